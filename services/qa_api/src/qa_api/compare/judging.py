"""Matched pairs judged metric by metric, the per-metric counts of a batch, and their pages.

Pure: the service fetches the runs, `matching` pairs them, this module judges and pages them. Every
pair of the batch is judged (the counts cover the batch), but only to its verdicts; the values,
deltas and percentages are worked out for the page shown (`details`).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from qa_api.compare.matching import Pair
from qa_api.compare.verdicts import (
    FAILURE_VERDICT,
    Failure,
    MetricRule,
    MetricVerdict,
    Verdict,
    direction,
    failure,
    judge,
    judge_failed,
    overall,
)


@dataclass(frozen=True, slots=True)
class JudgedPair:
    """A pair with its verdict, and its verdict on each compared metric (None: neither side has a
    value of it), in the order of the runs' `values`."""

    pair: Pair
    verdict: Verdict
    failure: Failure | None
    verdicts: tuple[Verdict | None, ...]


def judge_pair(pair: Pair, rules: Sequence[MetricRule]) -> JudgedPair:
    """Judge a pair; `rules` is in the order of the runs' `values`."""
    commit, reference = pair.commit, pair.reference
    failed = failure(commit is not None and commit.failed, reference is not None and reference.failed)
    none = (None,) * len(rules)
    mine = commit.values if commit is not None else none
    theirs = reference.values if reference is not None else none
    # where both ran and one failed, the failure is the verdict of every metric either has
    forced = FAILURE_VERDICT[failed] if failed is not None and commit and reference else None
    found: list[Verdict | None] = []
    # `verdict_of` inlined: this runs for every metric of every output of both batches
    for a, b, rule in zip(mine, theirs, rules, strict=True):
        if a is None and b is None:
            found.append(None)
        elif forced is not None:
            # a failed run rarely has metrics: its failure is the verdict all the same (as `details`)
            found.append(forced)
        elif a is None or b is None:
            found.append(Verdict.NEW if b is None else Verdict.MISSING)
        else:
            found.append(direction(a, b, rule))
    verdicts = tuple(found)
    if commit is None:
        verdict = Verdict.MISSING
    elif reference is None:
        verdict = Verdict.NEW
    elif commit.pending:
        # no results yet: what the reference has is missing on the commit, for now
        verdict = Verdict.MISSING
    else:
        judged = [v for v in verdicts if v is not None]
        if forced is not None:
            judged.append(forced)
        verdict = overall(judged)
    return JudgedPair(pair=pair, verdict=verdict, failure=failed, verdicts=verdicts)


def details(item: JudgedPair, names: Sequence[str], rules: Sequence[MetricRule]) -> dict[str, MetricVerdict]:
    """The values, delta and verdict of each metric either side of the pair has a value of."""
    commit, reference = item.pair.commit, item.pair.reference
    found: dict[str, MetricVerdict] = {}
    for index, (name, rule) in enumerate(zip(names, rules, strict=True)):
        if item.verdicts[index] is None:
            continue
        mine = commit.values[index] if commit is not None else None
        theirs = reference.values[index] if reference is not None else None
        if commit is not None and reference is not None and item.failure is not None:
            found[name] = judge_failed(mine, theirs, item.failure)
        else:
            found[name] = judge(mine, theirs, rule)
    return found


def counts(judged: Sequence[JudgedPair], names: Sequence[str]) -> dict[str, Counter[Verdict]]:
    """Per metric, how many outputs have each verdict on it (what `metric=&verdict=` would list)."""
    tallies: list[Counter[Verdict]] = [Counter() for _ in names]
    for item in judged:
        for tally, verdict in zip(tallies, item.verdicts, strict=True):
            if verdict is not None:
                tally[verdict] += 1
    return dict(zip(names, tallies, strict=True))


def is_selected(item: JudgedPair, verdict: Verdict | None, metric: int | None) -> bool:
    """`metric` (an index in the compared metrics): outputs with a value of it (with `verdict` on it,
    if given); `verdict` alone: outputs with that verdict."""
    if metric is not None:
        judged = item.verdicts[metric]
        return judged is not None and (verdict is None or judged == verdict)
    return verdict is None or item.verdict == verdict


Position = tuple[str, str, int]


def page(
    judged: Sequence[JudgedPair],
    *,
    verdict: Verdict | None,
    metric: int | None,
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
