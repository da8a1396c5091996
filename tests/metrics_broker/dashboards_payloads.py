"""Payloads for the TF-A kinds that have no generator sample (in `fixtures/`), shaped as TF-A's
generators (`qa-tools/quality-metrics/data-generator/tfa_metrics/`) build them and as the broker's schemas
(`GET /schemas/{kind}`) require: measurement names, tags and field types included."""

from __future__ import annotations

from typing import Any

# the v2.4 release, as in the code churn and complexity tracking samples
TAG_TIME = "2020-11-17 16:43:51 +0000"
RELEASE = {"Git_Tag_Date": 20201117, "Base_Tag": "v2.3", "Target_Tag": "v2.4"}
# Measured_Date as the generator formats it (`%H:%M-%x`), as in the defects tracking sample
MEASURED = "13:42-11/22/26"


def payload(kind: str, points: list[dict[str, Any]]) -> dict[str, Any]:
    return {"api_version": "1.0", "metadata": {"metrics": kind}, "data": points}


def complexity_stats() -> dict[str, Any]:
    """One point per function over the threshold; `Location` is the file (TF-A keys the series by it)."""
    offenders = [
        ("plat/arm/common/arm_bl2_setup.c", "arm_bl2_plat_handle_post_image_load", 14),
        ("lib/xlat_tables_v2/xlat_tables_core.c", "xlat_tables_map_region", 23),
        ("services/std_svc/spm/spm_main.c", "spm_smc_handler", 18),
        ("drivers/arm/gic/v3/gicv3_main.c", "gicv3_rdistif_init", 12),
    ]
    return payload(
        "tfa_complexity_stats",
        [
            {
                "measurement": "TFA_Complexity_Statistics",
                "tags": {**RELEASE, "Location": location},
                "fields": {"Function_ID": function, "Score": score, "Whitelisted": "no", "Threshold": 11},
                "time": TAG_TIME,
            }
            for location, function, score in offenders
        ],
    )


def defects_stats() -> dict[str, Any]:
    """The two open defects the defects tracking sample counts; no `time`, as the generator sends them."""
    defects = [
        ("3179", "Stack protector canary is not re-randomised on warm boot", "open"),
        ("3211", "SDEI dispatch loses the interrupted context on nested events", "open"),
    ]
    return payload(
        "tfa_defects_stats",
        [
            {
                "measurement": "TFA_Defects_Statistics",
                "tags": {"Defect_ID": defect_id, "Measured_Date": MEASURED},
                "fields": {
                    "Title": title,
                    "Issue_Status": status,
                    "URL": f"https://github.com/ARM-software/tf-issues/issues/{defect_id}",
                },
            }
            for defect_id, title, status in defects
        ],
    )


def misra_defects() -> list[dict[str, Any]]:
    """One payload per build (the generator sends one), two build configurations over two commits."""
    builds = [
        ("fvp-default", "ed39d5e3c0", "Merge changes into integration", "2020-09-08T14:22:45+00:00", 96, 31),
        (
            "fvp-default",
            "6c6b3c9b1d",
            "Merge 'SPMD: fix the boot order' into integration",
            "2020-10-02T09:10:00+00:00",
            91,
            30,
        ),
        ("juno-tspd", "ed39d5e3c0", "Merge changes into integration", "2020-09-08T14:22:45+00:00", 120, 44),
    ]
    return [
        payload(
            "tfa_misra_defects",
            [
                {
                    "measurement": config,
                    "tags": {"BinMode": "Debug", "CommitID": commit, "CommitTitle": title},
                    "fields": {
                        "TotalDefects": required + advisory,
                        "MandatoryDefects": 0,
                        "RequiredDefects": required,
                        "AdvisoryDefects": advisory,
                    },
                    "time": time,
                }
            ],
        )
        for config, commit, title, time, required, advisory in builds
    ]


def rtinstr() -> dict[str, Any]:
    """A Juno run: two clusters (2 + 4 CPUs), a PSCI_VERSION test on every CPU (one latency) and a suspend
    test (power down, wake up, cache flush), as `tfa_rt_instr.py` reads them from the job log."""
    commit = {"CommitID": "ed39d5e3c0", "CommitTitle": "Merge changes into integration"}
    cpus = [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (1, 3)]
    points: list[dict[str, Any]] = []
    for cluster, cpu in cpus:
        tags = {**commit, "Cluster_ID": cluster, "CPU_Core": cpu}
        points.append(
            {
                "measurement": "juno-tftf+aarch64-rt64.instr-r2",
                "tags": {**tags, "TC_Name": "testrtinstrpsciversionparallel"},
                "fields": {"Latency_EL3Entry_EL3Exit": 410 + 7 * cpu + 60 * cluster},
                "time": "2020-09-08T14:22:45+00:00",
            }
        )
        points.append(
            {
                "measurement": "juno-tftf+aarch64-rt64.instr-r2",
                "tags": {**tags, "TC_Name": "testrtinstrsuspdeepparallel"},
                "fields": {
                    "Latency_EL3Entry_CPUPowerDown": 2900 + 40 * cpu,
                    "Latency_CPUWakeup_EL3Exit": 1700 + 25 * cpu,
                    "CacheFlush": 380 + 3 * cpu,
                },
                "time": "2020-09-08T14:22:45+00:00",
            }
        )
    return payload("tfa_rtinstr", points)


def tfm_image_size() -> list[dict[str, Any]]:
    """Two builds of one TF-M commit (their own envelope: one payload per build)."""
    git = {
        "commit_time": "2020-11-17 16:43:51 +0000",
        "commit_title": "Build: Link the secure image with the veneers library",
        "commit_id": "4f2c7bd1e0",
        "gerrit_id": "6543",
        "commit_url": "https://review.trustedfirmware.org/c/TF-M/trusted-firmware-m/+/6543",
        "branch": "master",
    }
    builds = [("AN521", "Debug", 1.0), ("AN521", "Release", 0.8)]
    return [
        {
            "api_version": "1.0",
            "metadata": {
                "metrics": "tfm_image_size",
                "data_producer": "tf-m-ci",
                "git_info": git,
                "build_info": {
                    "build_type": build_type,
                    "cmake_config": "ConfigRegressionIPC",
                    "compiler": "GNUARM",
                    "target": target,
                },
            },
            "data": [
                {"file": "bl2.axf", "bss": int(31000 * scale), "data": 460, "text": int(41000 * scale)},
                {"file": "tfm_s.axf", "bss": int(57000 * scale), "data": 1100, "text": int(96000 * scale)},
                {"file": "tfm_ns.axf", "bss": int(9000 * scale), "data": 210, "text": int(23000 * scale)},
            ],
        }
        for target, build_type, scale in builds
    ]
