"""Verdicts: is an output (or a batch's median) better, worse or the same as its reference?

Each metric is judged by its definition (`qaboard_metrics.available_metrics.<name>` as the CLI sends
it):

- `smaller_is_better` (default true, as in QA-Board) gives the direction of an improvement;
- `tolerance`, a relative fraction (0.02: 2%), is the band within which a change is `same`; without
  one the band is `DEFAULT_TOLERANCE` (1%, QA-Board's neutral band for its delta tags). A reference
  value of 0 compares the absolute delta with the tolerance instead;
- `target_passfail: true` with a numeric `target`: the verdict is whether each side passes the target
  (at or below it when smaller is better, at or above it otherwise), with no band.

A value on one side only is `new` (the commit's) or `missing` (the reference's). A failed run is a
verdict too: failed on the commit only is `worse`, on the reference only `better`, on both `same`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

DEFAULT_TOLERANCE = 0.01


class Verdict(StrEnum):
    BETTER = "better"
    WORSE = "worse"
    SAME = "same"
    NEW = "new"
    MISSING = "missing"


class Failure(StrEnum):
    """Which side of a pair failed (status `failed`)."""

    COMMIT = "commit"
    REFERENCE = "reference"
    BOTH = "both"


@dataclass(frozen=True, slots=True)
class MetricRule:
    smaller_is_better: bool = True
    tolerance: float = DEFAULT_TOLERANCE
    target: float | None = None  # set only for pass/fail metrics

    @classmethod
    def of(cls, definition: Any) -> MetricRule:
        """The rule a metric definition of `available_metrics` gives (defaults for anything else)."""
        if not isinstance(definition, Mapping):
            return cls()
        smaller_is_better = definition.get("smaller_is_better", True) is not False
        target = number(definition.get("target"))
        if definition.get("target_passfail") is True and target is not None:
            return cls(smaller_is_better=smaller_is_better, tolerance=0.0, target=target)
        tolerance = number(definition.get("tolerance"))
        if tolerance is None or tolerance < 0:
            tolerance = DEFAULT_TOLERANCE
        return cls(smaller_is_better=smaller_is_better, tolerance=tolerance)

    def passes(self, value: float) -> bool:
        assert self.target is not None
        return value <= self.target if self.smaller_is_better else value >= self.target


def rules(definitions: Mapping[str, Any], names: Iterable[str]) -> dict[str, MetricRule]:
    """The rule of each metric in `names`, from a project's metric definitions."""
    available = definitions.get("available_metrics")
    if not isinstance(available, Mapping):
        available = {}
    return {name: MetricRule.of(available.get(name)) for name in names}


def number(value: Any) -> float | None:
    """A JSON number as a float; None for anything else (booleans, strings, null, infinities)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    result = float(value)
    return result if math.isfinite(result) else None


@dataclass(frozen=True, slots=True)
class MetricVerdict:
    commit: float | None
    reference: float | None
    delta: float | None
    delta_percent: float | None
    verdict: Verdict


def judge(commit: float | None, reference: float | None, rule: MetricRule) -> MetricVerdict:
    """One metric's values side by side, and how the commit's compares with the reference's."""
    if commit is None or reference is None:
        return MetricVerdict(commit, reference, None, None, verdict_of(commit, reference, rule))
    delta: float | None = _finite(commit - reference)
    percent = _finite(delta / abs(reference) * 100) if delta is not None and reference else None
    return MetricVerdict(commit, reference, delta, percent, direction(commit, reference, rule))


def _finite(value: float) -> float | None:
    """None for a difference too large for a float (9e307 against -9e307): there is no delta to say."""
    return value if math.isfinite(value) else None


def verdict_of(commit: float | None, reference: float | None, rule: MetricRule) -> Verdict:
    """`judge(...).verdict`, without the rest (a batch's counts need only this, for every output)."""
    if commit is None:
        return Verdict.SAME if reference is None else Verdict.MISSING
    if reference is None:
        return Verdict.NEW
    return direction(commit, reference, rule)


def direction(commit: float, reference: float, rule: MetricRule) -> Verdict:
    """The verdict on two values (see the module's docstring)."""
    delta = commit - reference
    if rule.target is not None:
        passes, passed = rule.passes(commit), rule.passes(reference)
        if passes == passed:
            return Verdict.SAME
        return Verdict.BETTER if passes else Verdict.WORSE
    scale = abs(reference) if reference else 1.0
    band = rule.tolerance * scale
    # isclose: 1.01 against 1.00 is within 1%, whatever the float rounding of the delta
    if abs(delta) <= band or math.isclose(abs(delta), band, rel_tol=1e-9):
        return Verdict.SAME
    improved = delta < 0 if rule.smaller_is_better else delta > 0
    return Verdict.BETTER if improved else Verdict.WORSE


def failure(commit_failed: bool, reference_failed: bool) -> Failure | None:
    if commit_failed and reference_failed:
        return Failure.BOTH
    if commit_failed:
        return Failure.COMMIT
    return Failure.REFERENCE if reference_failed else None


FAILURE_VERDICT = {
    Failure.COMMIT: Verdict.WORSE,
    Failure.REFERENCE: Verdict.BETTER,
    Failure.BOTH: Verdict.SAME,
}


def judge_failed(commit: float | None, reference: float | None, failed: Failure) -> MetricVerdict:
    """A metric of a pair where a run failed: its values are shown, the failure is the verdict."""
    delta = _finite(commit - reference) if commit is not None and reference is not None else None
    percent = _finite(delta / abs(reference) * 100) if delta is not None and reference else None
    return MetricVerdict(commit, reference, delta, percent, FAILURE_VERDICT[failed])


def overall(verdicts: Iterable[Verdict]) -> Verdict:
    """A matched output's verdict: `worse` if any metric is, else `better` if any is, else `same`."""
    seen = set(verdicts)
    if Verdict.WORSE in seen:
        return Verdict.WORSE
    return Verdict.BETTER if Verdict.BETTER in seen else Verdict.SAME
