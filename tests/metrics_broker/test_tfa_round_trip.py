"""Every TF-A kind goes in through `POST /` and comes back out of InfluxDB exactly as TF-A's broker
stored it: measurement, every tag (as a string), every field with its type, and the timestamp."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.metrics_broker.conftest import tfa_fixture
from tests.metrics_broker.influx import InfluxReader

GIT_TIME = "2020-11-17 16:43:51 +0000"
GIT_TIME_NS = 1605631431 * 10**9


def payload(kind: str, *points: dict[str, Any]) -> dict[str, Any]:
    return {"api_version": "1.0", "metadata": {"metrics": kind}, "data": list(points)}


async def post(broker: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await broker.post("/", json=body)


async def test_the_code_churn_sample_lands_as_tfa_stored_it(
    broker: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str]
) -> None:
    response = await post(broker, tfa_fixture("code_churn.json"))

    assert response.status_code == 204, response.text
    database = databases["tfa_code_churn"]
    [point] = await reader.points(database, "TFA_CodeChurn_Tracking")
    assert point.time_ns == GIT_TIME_NS
    assert point.tags == {"Git_Tag_Date": "20201117", "Base_Tag": "v2.3", "Target_Tag": "v2.4"}
    assert point.fields == {"Lines_of_Change": 34193}
    assert await reader.field_types(database, "TFA_CodeChurn_Tracking") == {"Lines_of_Change": "integer"}


async def test_the_complexity_tracking_sample_lands_in_the_complexity_database(
    broker: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str]
) -> None:
    response = await post(broker, tfa_fixture("complexity_tracking.json"))

    assert response.status_code == 204, response.text
    database = databases["tfa_complexity"]
    [point] = await reader.points(database, "TFA_Complexity_Tracking")
    assert point.time_ns == GIT_TIME_NS
    assert point.tags == {"Git_Tag_Date": "20201117", "Target_Tag": "v2.4"}
    assert point.fields == {
        "Threshold": 11,
        "Whitelisted": "no",
        "Functions_Exceeding_Threshold_Not_Whitelisted": 125,
    }
    assert await reader.field_types(database, "TFA_Complexity_Tracking") == {
        "Functions_Exceeding_Threshold_Not_Whitelisted": "integer",
        "Threshold": "integer",
        "Whitelisted": "string",
    }


async def test_the_image_size_sample_lands_with_the_build_config_as_measurement(
    broker: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str]
) -> None:
    sample = tfa_fixture("image_size.json")
    response = await post(broker, sample)

    assert response.status_code == 204, response.text
    database = databases["tfa_image_size"]
    [point] = await reader.points(database, "zynqmp-tspd-tdram")
    assert point.time_ns == 1599574965 * 10**9  # 2020-09-08T14:22:45+00:00
    assert point.tags == sample["data"][0]["tags"]
    assert point.fields == sample["data"][0]["fields"]
    types = await reader.field_types(database, "zynqmp-tspd-tdram")
    assert set(types.values()) == {"integer"}
    assert set(types) == set(sample["data"][0]["fields"])


async def test_the_defects_tracking_sample_without_time_is_stamped_when_accepted(
    broker: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str]
) -> None:
    before = time.time_ns()
    response = await post(broker, tfa_fixture("defects_tracking.json"))
    after = time.time_ns()

    assert response.status_code == 204, response.text
    database = databases["tfa_defects"]
    [point] = await reader.points(database, "TFA_Defects_Tracking")
    assert before <= point.time_ns <= after
    assert point.tags == {"Measured_Date": "13:42-11/22/26"}
    assert point.fields == {"Issue_Status": "Open", "Number_of_Defects": 2}
    assert await reader.field_types(database, "TFA_Defects_Tracking") == {
        "Issue_Status": "string",
        "Number_of_Defects": "integer",
    }


async def test_complexity_stats_keep_integer_and_float_scores_apart(
    broker: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str]
) -> None:
    tags = {"Git_Tag_Date": 20201117, "Base_Tag": "v2.3", "Target_Tag": "v2.4"}
    body = payload(
        "tfa_complexity_stats",
        {
            "measurement": "TFA_Complexity_Stats",
            "tags": {**tags, "Location": "bl31/bl31_main.c"},
            "fields": {"Function_ID": "bl31_main", "Score": 12, "Whitelisted": "no", "Threshold": 11},
            "time": GIT_TIME,
        },
        {
            "measurement": "TFA_Complexity_Stats_Avg",
            "tags": {**tags, "Location": "lib/psci/psci_main.c"},
            "fields": {"Function_ID": "psci_cpu_on", "Score": 12.5, "Whitelisted": "yes", "Threshold": 11.0},
            "time": "2020-11-17T16:43:51.123456789Z",
        },
    )
    response = await post(broker, body)

    assert response.status_code == 204, response.text
    database = databases["tfa_complexity"]
    [first] = await reader.points(database, "TFA_Complexity_Stats")
    assert first.tags == {**{k: str(v) for k, v in tags.items()}, "Location": "bl31/bl31_main.c"}
    assert first.fields == {"Function_ID": "bl31_main", "Score": 12, "Whitelisted": "no", "Threshold": 11}
    assert first.time_ns == GIT_TIME_NS
    [second] = await reader.points(database, "TFA_Complexity_Stats_Avg")
    assert second.time_ns == GIT_TIME_NS + 123456789
    assert second.fields["Score"] == 12.5
    assert await reader.field_types(database, "TFA_Complexity_Stats") == {
        "Function_ID": "string",
        "Score": "integer",
        "Threshold": "integer",
        "Whitelisted": "string",
    }
    assert await reader.field_types(database, "TFA_Complexity_Stats_Avg") == {
        "Function_ID": "string",
        "Score": "float",
        "Threshold": "float",
        "Whitelisted": "string",
    }


async def test_defects_stats_land_in_the_defects_database(
    broker: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str]
) -> None:
    point = {
        "measurement": "TFA_Defects_Stats",
        "tags": {"Defect_ID": "TFA-123", "Measured_Date": 20261122},
        "fields": {"Title": 'Crash "on" boot, \\ sometimes', "Issue_Status": "Open", "URL": "https://x/1"},
        "time": 1605631431000000000,
    }
    response = await post(broker, payload("tfa_defects_stats", point))

    assert response.status_code == 204, response.text
    [stored] = await reader.points(databases["tfa_defects"], "TFA_Defects_Stats")
    assert stored.time_ns == 1605631431000000000
    assert stored.tags == {"Defect_ID": "TFA-123", "Measured_Date": "20261122"}
    assert stored.fields == point["fields"]


async def test_misra_defects_land_in_their_database(
    broker: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str]
) -> None:
    tags = {"BinMode": "Release", "CommitID": "ed39d5e3c0", "CommitTitle": "Merge, with = and spaces"}
    fields = {"TotalDefects": 120, "MandatoryDefects": 0, "RequiredDefects": 100, "AdvisoryDefects": 20}
    body = payload(
        "tfa_misra_defects",
        {"measurement": "TFA_MISRA_Defects", "tags": tags, "fields": fields, "time": "2020-09-08T14:22:45"},
    )
    response = await post(broker, body)

    assert response.status_code == 204, response.text
    database = databases["tfa_misra_defects"]
    [stored] = await reader.points(database, "TFA_MISRA_Defects")
    assert stored.tags == tags
    assert stored.fields == fields
    assert stored.time_ns == 1599574965 * 10**9  # no offset: UTC, as influxdb-python took it
    assert set((await reader.field_types(database, "TFA_MISRA_Defects")).values()) == {"integer"}


async def test_rtinstr_points_of_both_shapes_land_per_cluster_and_cpu(
    broker: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str]
) -> None:
    common = {"CommitID": "ed39d5e3c0", "CommitTitle": "Fix", "TC_Name": "cpu_suspend"}
    body = payload(
        "tfa_rtinstr",
        {
            "measurement": "juno",
            "tags": {**common, "Cluster_ID": 0, "CPU_Core": 1},
            "fields": {"Latency_EL3Entry_EL3Exit": 1234},
            "time": GIT_TIME,
        },
        {
            "measurement": "juno_power",
            "tags": {**common, "Cluster_ID": 1, "CPU_Core": 3},
            "fields": {
                "Latency_EL3Entry_CPUPowerDown": 10.5,
                "Latency_CPUWakeup_EL3Exit": 20,
                "CacheFlush": 3,
            },
            "time": GIT_TIME,
        },
    )
    response = await post(broker, body)

    assert response.status_code == 204, response.text
    database = databases["tfa_rtinstr"]
    [single] = await reader.points(database, "juno")
    assert single.tags == {**common, "Cluster_ID": "0", "CPU_Core": "1"}
    assert single.fields == {"Latency_EL3Entry_EL3Exit": 1234}
    [power] = await reader.points(database, "juno_power")
    assert power.tags == {**common, "Cluster_ID": "1", "CPU_Core": "3"}
    assert power.fields == {
        "Latency_EL3Entry_CPUPowerDown": 10.5,
        "Latency_CPUWakeup_EL3Exit": 20,
        "CacheFlush": 3,
    }
    assert await reader.field_types(database, "juno_power") == {
        "CacheFlush": "integer",
        "Latency_CPUWakeup_EL3Exit": "integer",
        "Latency_EL3Entry_CPUPowerDown": "float",
    }


def tfm_payload(**git: str) -> dict[str, Any]:
    return {
        "api_version": "1.0",
        "metadata": {
            "metrics": "tfm_image_size",
            "data_producer": "tf-m-ci",
            "git_info": {
                "commit_time": "2020-11-17 16:43:51 +0000",
                "commit_title": "Build: fix the thing",
                "commit_id": "0123abcd",
                "commit_url": "https://review.trustedfirmware.org/c/123",
                "branch": "master",
                **git,
            },
            "build_info": {
                "build_type": "Debug",
                "cmake_config": "ConfigRegression",
                "compiler": "GNUARM",
                "target": "AN521",
            },
        },
        "data": [
            {"file": "bl2.axf", "bss": 100, "data": 20, "text": 30000},
            {"file": "tfm_s.axf", "bss": 5000, "data": 600, "text": 70000},
        ],
    }


async def test_a_tfm_image_size_payload_becomes_one_statistics_point(
    broker: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str]
) -> None:
    response = await post(broker, tfm_payload(gerrit_id="4567"))

    assert response.status_code == 204, response.text
    database = databases["tfm_image_size"]
    [point] = await reader.points(database, "TFM_ImageSize_Statistics")
    assert point.time_ns == GIT_TIME_NS
    assert point.tags == {
        "DataProducer": "tf-m-ci",
        "CommitTitle": "Build: fix the thing",
        "CommitID": "0123abcd",
        "GerritID": "4567",
        "CommitURL": "https://review.trustedfirmware.org/c/123",
        "Branch": "master",
        "BuildType": "Debug",
        "CmakeConfig": "ConfigRegression",
        "Compiler": "GNUARM",
        "Target": "AN521",
    }
    assert point.fields == {
        "bl2_b": 100,
        "bl2_d": 20,
        "bl2_t": 30000,
        "tfm_s_b": 5000,
        "tfm_s_d": 600,
        "tfm_s_t": 70000,
    }
    assert set((await reader.field_types(database, "TFM_ImageSize_Statistics")).values()) == {"integer"}


async def test_a_tfm_payload_without_gerrit_id_has_no_gerrit_tag(
    broker: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str]
) -> None:
    response = await post(broker, tfm_payload())

    assert response.status_code == 204, response.text
    [point] = await reader.points(databases["tfm_image_size"], "TFM_ImageSize_Statistics")
    assert "GerritID" not in point.tags
    assert point.tags["Branch"] == "master"


async def test_sending_the_same_payload_twice_stores_one_point(
    broker: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str]
) -> None:
    for _ in range(2):
        response = await post(broker, tfa_fixture("code_churn.json"))
        assert response.status_code == 204, response.text

    assert len(await reader.points(databases["tfa_code_churn"], "TFA_CodeChurn_Tracking")) == 1
