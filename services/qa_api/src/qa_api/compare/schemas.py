"""`GET /api/v2/compare` as clients see it."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from qa_api.commits.repository import MetricStats
from qa_api.commits.schemas import CommitSummary, MetricSummary
from qa_api.compare.judging import Position
from qa_api.compare.service import ComparedOutput, ComparisonResult, JudgedBatch, ReferenceReason
from qa_api.compare.verdicts import Failure, Verdict
from qahub_shared.schemas.pagination import encode_cursor

Mismatch = Literal["input_path", "platform", "configurations", "extra_parameters"]


class MetricComparison(BaseModel):
    """A metric's aggregates over both batches."""

    commit: MetricSummary | None
    reference: MetricSummary | None
    median_delta: float | None = Field(description="commit median minus reference median.")
    median_delta_percent: float | None = Field(
        description="The delta relative to the reference median (null when that is 0)."
    )


class MetricValues(BaseModel):
    """One metric of one output next to its reference's."""

    commit: float | None = Field(description="Null when the run has no numeric value of the metric.")
    reference: float | None
    delta: float | None = Field(description="commit minus reference (null unless both are numbers).")
    delta_percent: float | None = Field(
        description="The delta relative to the reference (null when it is 0)."
    )
    verdict: Verdict


class OutputComparison(BaseModel):
    """An output of the commit and the reference output it is compared with (`new`: none), or a
    reference output no output matched (`missing`)."""

    input_path: str = Field(examples=["images/A.jpg"])
    database: str = Field(examples=["/data"])
    platform: str = Field(examples=["linux"])
    configurations: list[Any]
    extra_parameters: dict[str, Any]
    commit_output_id: int | None
    reference_output_id: int | None
    verdict: Verdict
    failure: Failure | None = Field(description="Which side failed (status `failed`), if any.")
    mismatch: list[Mismatch] = Field(
        description="What differs between the output and its match (empty: the same run)."
    )
    metrics: dict[str, MetricValues] = Field(description="The compared metrics either side has a value of.")


class MetricVerdicts(BaseModel):
    """How many outputs have each verdict on a metric, and the verdict of the medians."""

    better: int
    worse: int
    same: int
    new: int
    missing: int
    verdict: Verdict | None = Field(
        description="The batch median against the reference median (null: neither has the metric)."
    )


class Comparison(BaseModel):
    """A batch of a commit next to a reference batch: aggregates, verdicts, and a page of outputs."""

    project_id: str
    batch: str = Field(examples=["default"])
    commit: CommitSummary
    reference: CommitSummary
    reference_project: str = Field(examples=["group/repo"])
    reference_batch: str = Field(examples=["default"])
    reference_reason: ReferenceReason = Field(
        description="`explicit` (`reference=` a commit, branch or tag), `milestone`, "
        "`previous_on_reference_branch` (the nearest ancestor with results on the reference branch, "
        "for a commit on it), `fork_point` (the same, for a commit on another branch), "
        "`latest_on_reference_branch` (its history unknown: the latest commit with results there)."
    )
    metrics: dict[str, MetricComparison]
    summary: dict[str, MetricVerdicts] = Field(description="Per compared metric, over the whole batch.")
    outputs: list[OutputComparison] = Field(description="A page, by input path, platform and output id.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: the last.")

    @classmethod
    def of(cls, result: ComparisonResult) -> Comparison:
        judged = result.judged
        return cls.model_validate(
            {
                "project_id": judged.project_id,
                "batch": judged.batch,
                "commit": CommitSummary.document(judged.commit),
                "reference": CommitSummary.document(judged.reference),
                "reference_project": judged.reference_project,
                "reference_batch": judged.reference_batch,
                "reference_reason": judged.reference_reason,
                "metrics": {
                    name: {
                        "commit": _summary(median.commit),
                        "reference": _summary(median.reference),
                        "median_delta": median.delta,
                        "median_delta_percent": median.delta_percent,
                    }
                    for name, median in judged.medians.items()
                },
                "summary": summary_document(judged),
                "outputs": [_output(item) for item in result.outputs],
                "next_cursor": None
                if result.next_position is None
                else comparison_cursor(result.next_position),
            }
        )


def summary_document(judged: JudgedBatch) -> dict[str, dict[str, Any]]:
    """`summary` as plain data: per compared metric, the outputs of each verdict and the medians'."""
    summary = {}
    for name, median in judged.medians.items():
        tally = judged.counts[name]
        summary[name] = {verdict.value: tally[verdict] for verdict in Verdict} | {"verdict": median.verdict}
    return summary


def comparison_cursor(position: Position) -> str:
    path, platform, output_id = position
    return encode_cursor({"path": path, "platform": platform, "id": output_id})


def _summary(stats: MetricStats | None) -> dict[str, Any] | None:
    if stats is None:
        return None
    return {
        "median": stats.median,
        "mean": stats.mean,
        "min": stats.min,
        "max": stats.max,
        "count": stats.count,
    }


def _output(output: ComparedOutput) -> dict[str, Any]:
    item = output.judged
    run = item.pair.shown
    return {
        "input_path": run.path,
        "database": run.database,
        "platform": run.platform,
        "configurations": json.loads(run.configurations),
        "extra_parameters": json.loads(run.extra_parameters),
        "commit_output_id": item.pair.commit.id if item.pair.commit else None,
        "reference_output_id": item.pair.reference.id if item.pair.reference else None,
        "verdict": item.verdict,
        "failure": item.failure,
        "mismatch": list(item.pair.mismatch),
        "metrics": {
            name: {
                "commit": metric.commit,
                "reference": metric.reference,
                "delta": metric.delta,
                "delta_percent": metric.delta_percent,
                "verdict": metric.verdict,
            }
            for name, metric in output.metrics.items()
        },
    }
