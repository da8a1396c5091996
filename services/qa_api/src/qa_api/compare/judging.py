"""Matched pairs judged metric by metric, the per-metric counts of a batch, and their pages.

Pure: the service fetches the runs, `matching` pairs them, this module judges and pages them.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from qa_api.compare.matching import Pair
from qa_api.compare.verdicts import (
    FAILURE_VERDICT,
    Failure,
    MetricRule,
    MetricVerdict,
    Verdict,
    failure,
    judge,
    judge_failed,
    number,
    overall,
)


@dataclass(frozen=True, slots=True)
class JudgedPair:
    """A pair with its verdict; `metrics` holds the compared metrics either side has a value of."""

    pair: Pair
    verdict: Verdict
    failure: Failure | None
    metrics: dict[str, MetricVerdict]


def judge_pair(pair: Pair, rules: Mapping[str, MetricRule]) -> JudgedPair:
    """Judge a pair; `rules` is in the order of the runs' `values`."""
    commit, reference = pair.commit, pair.reference
    failed = failure(commit is not None and commit.failed, reference is not None and reference.failed)
    both = commit is not None and reference is not None
    metrics: dict[str, MetricVerdict] = {}
    for index, (name, rule) in enumerate(rules.items()):
        mine = number(commit.values[index]) if commit is not None else None
        theirs = number(reference.values[index]) if reference is not None else None
        if mine is None and theirs is None:
            continue
        if both and failed is not None:
            metrics[name] = judge_failed(mine, theirs, failed)
        else:
            metrics[name] = judge(mine, theirs, rule)
    if commit is None:
        verdict = Verdict.MISSING
    elif reference is None:
        verdict = Verdict.NEW
    elif commit.pending:
        # no results yet: what the reference has is missing on the commit, for now
        verdict = Verdict.MISSING
    else:
        verdicts = [metric.verdict for metric in metrics.values()]
        if failed is not None:
            verdicts.append(FAILURE_VERDICT[failed])
        verdict = overall(verdicts)
    return JudgedPair(pair=pair, verdict=verdict, failure=failed, metrics=metrics)


def counts(judged: Sequence[JudgedPair], names: Sequence[str]) -> dict[str, Counter[Verdict]]:
    """Per metric, how many outputs have each verdict on it (what `metric=&verdict=` would list)."""
    tally: dict[str, Counter[Verdict]] = {name: Counter() for name in names}
    for item in judged:
        for name, metric in item.metrics.items():
            tally[name][metric.verdict] += 1
    return tally


def is_selected(item: JudgedPair, verdict: Verdict | None, metric: str | None) -> bool:
    """`metric=`: outputs with a value of that metric (with that verdict on it when `verdict=` too);
    `verdict=` alone: outputs with that verdict."""
    if metric is not None:
        judged = item.metrics.get(metric)
        return judged is not None and (verdict is None or judged.verdict == verdict)
    return verdict is None or item.verdict == verdict


Position = tuple[str, str, int]


def page(
    judged: Sequence[JudgedPair],
    *,
    verdict: Verdict | None,
    metric: str | None,
    after: Position | None,
    limit: int,
) -> tuple[list[JudgedPair], Position | None]:
    """The selected pairs after `after` (`judged` is in `Pair.sort_key` order), and where the next
    page starts (None: this is the last)."""
    start = 0
    if after is not None:
        start = bisect_right(judged, after, key=lambda item: item.pair.sort_key)
    found: list[JudgedPair] = []
    for item in judged[start:]:
        if is_selected(item, verdict, metric):
            if len(found) == limit:
                return found, found[-1].pair.sort_key
            found.append(item)
    return found, None
