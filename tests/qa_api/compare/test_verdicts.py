"""Verdicts on metrics, failures and whole outputs, and pages of judged outputs, without a database."""

from __future__ import annotations

import pytest

from qa_api.compare.judging import JudgedPair, counts, details, judge_pair, page
from qa_api.compare.matching import Pair, Run
from qa_api.compare.verdicts import (
    DEFAULT_TOLERANCE,
    Failure,
    MetricRule,
    MetricVerdict,
    Verdict,
    judge,
    number,
    rules,
)

LOSS = MetricRule(smaller_is_better=True)
PSNR = MetricRule(smaller_is_better=False)


def test_the_default_tolerance_is_one_percent() -> None:
    assert DEFAULT_TOLERANCE == 0.01
    assert MetricRule.of({}).tolerance == 0.01
    assert MetricRule.of({"tolerance": 0.05}).tolerance == 0.05
    assert MetricRule.of({"tolerance": "a lot"}).tolerance == 0.01


def test_metrics_are_smaller_is_better_unless_defined_otherwise() -> None:
    assert MetricRule.of({"label": "Loss"}).smaller_is_better is True
    assert MetricRule.of({"smaller_is_better": False}).smaller_is_better is False
    assert rules({"available_metrics": {"psnr": {"smaller_is_better": False}}}, ["psnr", "x"]) == {
        "psnr": PSNR,
        "x": LOSS,
    }


@pytest.mark.parametrize(
    ("rule", "commit", "reference", "verdict"),
    [
        (LOSS, 0.90, 1.00, Verdict.BETTER),
        (LOSS, 1.10, 1.00, Verdict.WORSE),
        (PSNR, 42.0, 40.0, Verdict.BETTER),
        (PSNR, 38.0, 40.0, Verdict.WORSE),
        # within 1% of the reference: the same
        (PSNR, 40.39, 40.0, Verdict.SAME),
        (LOSS, 1.01, 1.00, Verdict.SAME),
        (MetricRule(tolerance=0.05), 1.04, 1.00, Verdict.SAME),
        (MetricRule(tolerance=0.0), 1.001, 1.00, Verdict.WORSE),
        # a reference of 0: the absolute delta against the tolerance
        (LOSS, 0.005, 0.0, Verdict.SAME),
        (LOSS, 0.5, 0.0, Verdict.WORSE),
    ],
)
def test_a_metric_is_better_worse_or_the_same_within_its_tolerance(
    rule: MetricRule, commit: float, reference: float, verdict: Verdict
) -> None:
    assert judge(commit, reference, rule).verdict == verdict


def test_deltas_are_absolute_and_relative_to_the_reference() -> None:
    judged = judge(41.0, 40.0, PSNR)

    assert judged.delta == 1.0
    assert judged.delta_percent == pytest.approx(2.5)
    assert judge(1.0, 0.0, LOSS).delta_percent is None


def test_only_finite_json_numbers_are_values() -> None:
    assert [number(v) for v in (1, 2.5, True, "3", None, float("inf"))] == [1.0, 2.5, None, None, None, None]


def test_a_value_on_one_side_only_is_new_or_missing() -> None:
    assert judge(1.0, None, LOSS).verdict == Verdict.NEW
    assert judge(None, 1.0, LOSS).verdict == Verdict.MISSING
    assert judge(None, 1.0, LOSS).delta is None


def test_a_pass_fail_metric_is_judged_by_its_target_with_no_band() -> None:
    rule = MetricRule.of(
        {"target": 30.0, "target_passfail": True, "smaller_is_better": False, "tolerance": 0.5}
    )

    assert rule.tolerance == 0.0
    assert judge(31.0, 29.0, rule).verdict == Verdict.BETTER
    assert judge(29.0, 31.0, rule).verdict == Verdict.WORSE
    # both pass, however far apart
    assert judge(50.0, 30.0, rule).verdict == Verdict.SAME


def run(status: str = "finished", *values: float | None, id: int = 1) -> Run:
    return Run(
        id=id,
        database="/data",
        path="A.jpg",
        input_id=None,
        platform="linux",
        configurations="[]",
        extra_parameters="{}",
        status=status,
        values=values,
    )


NAMES = ["psnr", "loss"]
RULES = [PSNR, LOSS]


def _metrics(pair: Pair) -> dict[str, MetricVerdict]:
    return details(judge_pair(pair, RULES), NAMES, RULES)


def test_an_output_is_worse_if_any_metric_is_worse_else_better_if_any_is_better() -> None:
    worse = judge_pair(Pair(run("finished", 45.0, 2.0), run("finished", 40.0, 1.0)), RULES)
    better = judge_pair(Pair(run("finished", 45.0, 1.0), run("finished", 40.0, 1.0)), RULES)
    same = judge_pair(Pair(run("finished", 40.0, 1.0), run("finished", 40.0, 1.0)), RULES)

    assert (worse.verdict, better.verdict, same.verdict) == (Verdict.WORSE, Verdict.BETTER, Verdict.SAME)
    assert worse.verdicts == (Verdict.BETTER, Verdict.WORSE)


def test_the_details_of_an_output_are_each_metric_values_delta_and_verdict() -> None:
    metrics = _metrics(Pair(run("finished", 44.0, 2.0), run("finished", 40.0, 1.0)))

    assert metrics["psnr"] == MetricVerdict(44.0, 40.0, 4.0, 10.0, Verdict.BETTER)
    assert metrics["loss"] == MetricVerdict(2.0, 1.0, 1.0, 100.0, Verdict.WORSE)


def test_failed_runs_are_verdicts_too() -> None:
    commit_failed = judge_pair(Pair(run("failed", 45.0, None), run("finished", 40.0, None)), RULES)
    reference_failed = judge_pair(Pair(run("finished", 40.0, None), run("failed", None, None)), RULES)
    both_failed = judge_pair(Pair(run("failed", None, None), run("failed", None, None)), RULES)

    assert (commit_failed.verdict, commit_failed.failure) == (Verdict.WORSE, Failure.COMMIT)
    # a better value does not make up for the failure
    assert commit_failed.verdicts == (Verdict.WORSE, None)
    assert details(commit_failed, NAMES, RULES)["psnr"].delta == 5.0
    assert (reference_failed.verdict, reference_failed.failure) == (Verdict.BETTER, Failure.REFERENCE)
    assert (both_failed.verdict, both_failed.failure) == (Verdict.SAME, Failure.BOTH)


def test_metrics_neither_side_has_a_value_of_are_left_out() -> None:
    metrics = _metrics(Pair(run("finished", None, None), run("finished", None, 1.0)))

    assert list(metrics) == ["loss"]
    assert metrics["loss"].verdict == Verdict.MISSING


def test_unmatched_outputs_are_new_or_missing_and_a_pending_output_is_missing_its_results() -> None:
    new = judge_pair(Pair(run("finished", 40.0, 1.0), None), RULES)
    missing = judge_pair(Pair(None, run("finished", 40.0, 1.0)), RULES)
    pending = judge_pair(Pair(run("running", None, None), run("finished", 40.0, None)), RULES)

    assert (new.verdict, new.verdicts) == (Verdict.NEW, (Verdict.NEW, Verdict.NEW))
    assert (missing.verdict, missing.verdicts) == (Verdict.MISSING, (Verdict.MISSING, Verdict.MISSING))
    assert pending.verdict == Verdict.MISSING


def _judged(psnrs: list[float | None]) -> list[JudgedPair]:
    return [
        judge_pair(Pair(run("finished", value, id=n), run("finished", 40.0, id=1000 + n)), [PSNR])
        for n, value in enumerate(psnrs)
    ]


def test_counts_per_metric_are_what_the_metric_and_verdict_filters_list() -> None:
    judged = _judged([45.0, 30.0, 40.0, 41.0, None])

    tally = counts(judged, ["psnr"])["psnr"]
    listed = {
        verdict: len(page(judged, verdict=verdict, metric=0, after=None, limit=100)[0]) for verdict in Verdict
    }

    assert dict(tally) == {Verdict.BETTER: 2, Verdict.WORSE: 1, Verdict.SAME: 1, Verdict.MISSING: 1}
    assert listed == {verdict: tally[verdict] for verdict in Verdict}


def test_pages_follow_one_another_without_gaps_or_repeats() -> None:
    judged = _judged([45.0, 30.0, 45.0, 30.0, 45.0, 45.0, 45.0])
    seen: list[list[int]] = []
    after = None
    while True:
        found, after = page(judged, verdict=Verdict.BETTER, metric=None, after=after, limit=2)
        seen.append([item.pair.commit.id for item in found if item.pair.commit])
        if after is None:
            break

    assert seen == [[0, 2], [4, 5], [6]]
