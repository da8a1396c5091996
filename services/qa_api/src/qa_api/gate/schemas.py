"""`GET /api/v2/verdict` as clients (the `qahub gate` CLI, commit statuses) see it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from qa_api.compare.schemas import MetricVerdicts, summary_document
from qa_api.compare.service import ReferenceReason
from qa_api.gate.service import GateStatus, GateVerdict, WorseOutput


class ReferenceUsed(BaseModel):
    """The reference batch the commit's batch was compared with, and why that one."""

    sha: str = Field(examples=["46f39e31e16218b2a5aac997a57fc39f3d543894"])
    batch: str = Field(examples=["default"])
    project: str = Field(examples=["group/repo"])
    reason: ReferenceReason = Field(description="As `reference_reason` of `GET /api/v2/compare`.")


class OutputProgress(BaseModel):
    """The outputs of the commit's batch by state."""

    total: int
    done: int = Field(description="Finished or failed.")
    pending: int = Field(description="Queued or running.")
    failed: int


class WorseMetric(BaseModel):
    """A metric of an output that got worse beyond its tolerance."""

    commit: float | None
    reference: float | None
    delta_percent: float | None = Field(description="Relative to the reference (null when it is 0).")


class WorseOutputSummary(BaseModel):
    """An output that fails the gate."""

    input_path: str = Field(examples=["images/A.jpg"])
    platform: str = Field(examples=["linux"])
    commit_output_id: int
    reference_output_id: int | None = Field(description="Null for a failed run of a new input.")
    failed: bool = Field(description="The commit's run failed (where the reference's did not).")
    metrics: dict[str, WorseMetric] = Field(
        description="The metrics that got worse (empty for a failed run)."
    )


class BatchVerdict(BaseModel):
    """Whether a commit's batch passes the gate against its reference."""

    status: GateStatus = Field(
        description="`pending` while an output is queued or running (or the batch has none yet); "
        "else `fail` when an output is worse (a metric beyond its tolerance, or a failed run where the "
        "reference's did not fail); else `pass`."
    )
    description: str = Field(
        description="One short line (at most 140 characters), for a commit status.",
        examples=["3 outputs worse on loss"],
    )
    project: str = Field(examples=["group/repo"])
    commit: str = Field(description="The full sha.", examples=["99fcebb1272352a154ae6c33b5bb3ef25549144f"])
    batch: str = Field(examples=["default"])
    reference: ReferenceUsed
    outputs: OutputProgress
    reasons: list[str] = Field(
        description="Why the status is what it is, then what is reported without failing (new "
        "outputs, reference inputs not run, runs failed on both sides).",
        examples=[["3 outputs worse on loss", "input a/b.jpg failed on linux"]],
    )
    worse: list[WorseOutputSummary] = Field(
        description="Up to 20 of the worse outputs: failed runs, then the largest relative changes."
    )
    worse_count: int = Field(description="Every worse output, listed or not.")
    better_count: int
    summary: dict[str, MetricVerdicts] = Field(description="The `summary` of `GET /api/v2/compare`.")
    alerts: list[dict[str, Any]] = Field(
        description="Always empty for now: change-point alerts at this commit will be listed here once "
        "regression detection lands."
    )

    @classmethod
    def of(cls, verdict: GateVerdict) -> BatchVerdict:
        judged = verdict.judged
        outputs = verdict.outputs
        return cls.model_validate(
            {
                "status": verdict.status,
                "description": verdict.description,
                "project": judged.project_id,
                "commit": judged.commit.commit.sha,
                "batch": judged.batch,
                "reference": {
                    "sha": judged.reference.commit.sha,
                    "batch": judged.reference_batch,
                    "project": judged.reference_project,
                    "reason": judged.reference_reason,
                },
                "outputs": {
                    "total": outputs.total,
                    "done": outputs.done,
                    "pending": outputs.pending,
                    "failed": outputs.failed,
                },
                "reasons": verdict.reasons,
                "worse": [_worse(item) for item in verdict.worse],
                "worse_count": verdict.worse_count,
                "better_count": verdict.better_count,
                "summary": summary_document(judged),
                # regression detection (next) adds its change-point alerts at this commit here
                "alerts": [],
            }
        )


def _worse(output: WorseOutput) -> dict[str, Any]:
    pair = output.judged.pair
    run = pair.shown
    return {
        "input_path": run.path,
        "platform": run.platform,
        "commit_output_id": run.id,
        "reference_output_id": pair.reference.id if pair.reference is not None else None,
        "failed": output.failed,
        "metrics": {
            name: {
                "commit": metric.commit,
                "reference": metric.reference,
                "delta_percent": metric.delta_percent,
            }
            for name, metric in output.metrics.items()
        },
    }
