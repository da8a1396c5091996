"""Commits, batches and comparisons as the v2 API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from qa_api.commits.repository import BatchStats, PageCommit
from qa_api.commits.service import CommitView


class MetricSummary(BaseModel):
    """A metric over a batch's finished, successful outputs (JSON numbers only)."""

    median: float = Field(examples=[41.2])
    mean: float = Field(examples=[40.9])
    min: float = Field(examples=[35.0])
    max: float = Field(examples=[44.8])
    count: int = Field(examples=[120], description="Outputs the metric was found in.")


class StatusCounts(BaseModel):
    queued: int
    running: int
    finished: int
    failed: int
    total: int


class BatchSummary(BaseModel):
    id: int
    label: str = Field(examples=["default"])
    created_at: datetime | None
    outputs: StatusCounts
    metrics: dict[str, MetricSummary] = Field(
        description="Per requested metric (default: the project's summary metrics)."
    )
    data: dict[str, Any] = Field(description="Batch data: config overrides, `qa optimize` state.")


class CommitSummary(BaseModel):
    project_id: str = Field(examples=["group/repo"])
    sha: str = Field(examples=["99fcebb1272352a154ae6c33b5bb3ef25549144f"])
    message: str | None
    author_name: str | None
    author_email: str | None
    committer_name: str | None
    committer_email: str | None
    authored_at: datetime
    committed_at: datetime | None
    parents: list[str]
    branches: list[str] = Field(examples=[["master", "release/2.1"]])
    tags: list[str] = Field(examples=[["v2.1.0"]])
    latest_output_at: datetime | None
    batches: list[BatchSummary]

    @classmethod
    def of(cls, view: CommitView) -> CommitSummary:
        return cls.model_validate(cls.document(view))

    @staticmethod
    def document(view: CommitView) -> dict[str, Any]:
        """The summary as plain data: validating a page of them in one call (`Page.model_validate`)
        costs a fraction of building each nested model in Python.
        """
        commit = view.commit
        columns = {name: getattr(commit, name) for name in _COMMIT_FIELDS}
        batches = [
            _batch_document(
                batch.id or 0, batch.label, batch.created_at, batch.data, view.stats[batch.id or 0]
            )
            for batch in view.batches
        ]
        return columns | {"branches": view.branches, "tags": view.tags, "batches": batches}

    @staticmethod
    def page_document(item: PageCommit) -> dict[str, Any]:
        """`document` of a commit of `service.commit_page`."""
        batches = []
        for batch in item.batches:
            assert batch.stats is not None  # the service brought them up to date
            batches.append(_batch_document(batch.id, batch.label, batch.created_at, batch.data, batch.stats))
        columns = {name: item.commit[name] for name in _COMMIT_FIELDS}
        return columns | {"branches": item.branches, "tags": item.tags, "batches": batches}


# the fields of a summary that are the commit's own columns
_COMMIT_FIELDS = (
    "project_id",
    "sha",
    "message",
    "author_name",
    "author_email",
    "committer_name",
    "committer_email",
    "authored_at",
    "committed_at",
    "parents",
    "latest_output_at",
)


def _batch_document(
    batch_id: int, label: str, created_at: datetime | None, data: dict[str, Any], stats: BatchStats
) -> dict[str, Any]:
    return {
        "id": batch_id,
        "label": label,
        "created_at": created_at,
        "outputs": {
            "queued": stats.queued,
            "running": stats.running,
            "finished": stats.finished,
            "failed": stats.failed,
            "total": stats.total,
        },
        "metrics": {
            name: {
                "median": metric.median,
                "mean": metric.mean,
                "min": metric.min,
                "max": metric.max,
                "count": metric.count,
            }
            for name, metric in stats.metrics.items()
        },
        "data": data,
    }
