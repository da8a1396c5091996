"""The TF-A metric kinds: which tags and fields a point of each kind has, their types, its database.

What TF-A's JSON schemas meant, checked as they meant it (theirs put `required` beside `items`, where it
checks nothing, and let any field through): every tag listed is required and no other is allowed; fields
are the listed ones (or, for image sizes, `BL<image>_<section>` integers), required as listed; `time` is
required except for the defect kinds, whose generator sends none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class ValueType(StrEnum):
    NUMBER = "number"
    """An integer or a finite float; stored with its own type (integer field `12i`, or float)."""
    INTEGER = "integer"
    STRING = "string"
    SCALAR = "scalar"
    """A string or a number: TF-A's schemas set no type (e.g. `Measured_Date`)."""


@dataclass(frozen=True, slots=True)
class PointShape:
    """What one point of a kind carries."""

    tags: Mapping[str, ValueType]
    """Every tag, all required."""
    fields: Mapping[str, ValueType] = field(default_factory=dict)
    field_sets: tuple[frozenset[str], ...] = ()
    """When several: a point carries exactly one of these sets of fields (TF-A's `oneOf`). When empty:
    every listed field is required."""
    field_pattern: re.Pattern[str] | None = None
    """Fields named by a pattern instead of listed (image sizes), all of `pattern_type`."""
    pattern_type: ValueType = ValueType.INTEGER
    time_required: bool = True


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    family: str
    """The database family (a key of `QAHUB_INFLUX_DATABASES`)."""
    description: str
    shape: PointShape | None
    """None: the kind has its own envelope (`tfm_image_size`)."""


_N, _I, _S, _X = ValueType.NUMBER, ValueType.INTEGER, ValueType.STRING, ValueType.SCALAR
_RELEASE_TAGS = {"Git_Tag_Date": _N, "Base_Tag": _S, "Target_Tag": _S}
_BUILD_TAGS = {"BinMode": _S, "CommitID": _S, "CommitTitle": _S}
RTINSTR_SINGLE = frozenset({"Latency_EL3Entry_EL3Exit"})
RTINSTR_POWER_DOWN = frozenset({"Latency_EL3Entry_CPUPowerDown", "Latency_CPUWakeup_EL3Exit", "CacheFlush"})
# `BL31_T`: image BL1, BL2, BL2U, BL31, BL32, BL33...; section B(ss), D(ata), R(odata), T(ext), W...
IMAGE_SIZE_FIELD = re.compile(r"^BL[0-9]{1,2}[A-Z]?_[A-Z]$")

KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in [
        Kind(
            "tfa_code_churn",
            "tfa_code_churn",
            "Lines changed between two release tags.",
            PointShape(tags=_RELEASE_TAGS, fields={"Lines_of_Change": _N}),
        ),
        Kind(
            "tfa_complexity_stats",
            "tfa_complexity",
            "Cyclomatic complexity of each function over the threshold.",
            PointShape(
                tags={**_RELEASE_TAGS, "Location": _S},
                fields={"Function_ID": _S, "Score": _N, "Whitelisted": _S, "Threshold": _N},
            ),
        ),
        Kind(
            "tfa_complexity_tracking",
            "tfa_complexity",
            "How many functions exceed the complexity threshold, per release tag.",
            PointShape(
                tags={"Git_Tag_Date": _N, "Target_Tag": _S},
                fields={
                    "Functions_Exceeding_Threshold_Not_Whitelisted": _N,
                    "Whitelisted": _S,
                    "Threshold": _N,
                },
            ),
        ),
        Kind(
            "tfa_defects_stats",
            "tfa_defects",
            "Each open defect (issue tracker).",
            PointShape(
                tags={"Defect_ID": _S, "Measured_Date": _X},
                fields={"Title": _S, "Issue_Status": _S, "URL": _S},
                time_required=False,
            ),
        ),
        Kind(
            "tfa_defects_tracking",
            "tfa_defects",
            "Number of defects per status.",
            PointShape(
                tags={"Measured_Date": _X},
                fields={"Issue_Status": _S, "Number_of_Defects": _N},
                time_required=False,
            ),
        ),
        Kind(
            "tfa_image_size",
            "tfa_image_size",
            "Size of each section of each BL image, per build configuration (the measurement).",
            PointShape(tags=_BUILD_TAGS, field_pattern=IMAGE_SIZE_FIELD, pattern_type=_I),
        ),
        Kind(
            "tfa_misra_defects",
            "tfa_misra_defects",
            "MISRA defects per category, per build.",
            PointShape(
                tags=_BUILD_TAGS,
                fields={
                    "TotalDefects": _N,
                    "MandatoryDefects": _N,
                    "RequiredDefects": _N,
                    "AdvisoryDefects": _N,
                },
            ),
        ),
        Kind(
            "tfa_rtinstr",
            "tfa_rtinstr",
            "Runtime-instrumentation latencies per test case, cluster and CPU.",
            PointShape(
                tags={"CommitID": _S, "CommitTitle": _S, "TC_Name": _S, "Cluster_ID": _N, "CPU_Core": _N},
                fields=dict.fromkeys(sorted(RTINSTR_SINGLE | RTINSTR_POWER_DOWN), _N),
                field_sets=(RTINSTR_SINGLE, RTINSTR_POWER_DOWN),
            ),
        ),
        Kind(
            "tfm_image_size",
            "tfm_image_size",
            "TF-M image sizes: one payload per build becomes one point in `TFM_ImageSize_Statistics`.",
            None,
        ),
    ]
}

TFM_MEASUREMENT = "TFM_ImageSize_Statistics"
# metadata key → tag, in the order TF-A's converter named them
TFM_GIT_TAGS = {
    "commit_title": "CommitTitle",
    "commit_id": "CommitID",
    "gerrit_id": "GerritID",
    "commit_url": "CommitURL",
    "branch": "Branch",
}
TFM_GIT_REQUIRED = ("commit_time", "commit_title", "commit_id", "commit_url", "branch")
TFM_BUILD_TAGS = {
    "build_type": "BuildType",
    "cmake_config": "CmakeConfig",
    "compiler": "Compiler",
    "target": "Target",
}
TFM_SIZES = {"bss": "_b", "data": "_d", "text": "_t"}
