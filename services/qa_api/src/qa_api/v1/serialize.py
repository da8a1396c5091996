"""Domain objects → QA-Board's v1 JSON shapes (`Output.to_dict`, `Batch.to_dict`, `CiCommit.to_dict`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import pydantic_core

from qa_api.commits.repository import BatchStats
from qa_api.commits.service import CommitView
from qa_api.models import Batch
from qa_api.outputs.repository import OutputRow
from qa_api.outputs.service import flags_of
from qa_api.projects.repository import ProjectActivity
from qa_api.v1.schemas import V1Batch, V1Commit


def dir_to_url(path: str | None) -> str | None:
    """QA-Board's file URL for a directory; the CLI maps it back with `unquote(url)[2:]`."""
    return quote(f"/s{path}") if path else None


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def output(out: OutputRow) -> dict[str, Any]:
    flags = flags_of(out.status)
    return {
        "id": out.id,
        "output_type": out.output_type,
        "platform": out.platform,
        "configurations": out.configurations,
        "extra_parameters": out.extra_parameters,
        "metrics": out.metrics,
        "is_failed": flags.is_failed,
        "is_pending": flags.is_pending,
        "is_running": flags.is_running,
        "data": out.data,
        "deleted": False,
        "created_date": iso(out.created_at),
        # never null: the CLI unquotes it unconditionally
        "output_dir_url": dir_to_url(out.output_dir) or "",
        "test_input_database": out.test_input_database,
        "test_input_path": out.test_input_path,
        "test_input_metadata": out.test_input_metadata,
    }


def aggregated_metrics(stats: BatchStats) -> dict[str, float]:
    aggregated: dict[str, float] = {}
    for name, metric in stats.metrics.items():
        aggregated[f"{name}_median"] = metric.median
        aggregated[f"{name}_average"] = metric.mean
    return aggregated


def batch(sha: str, entity: Batch, stats: BatchStats, outputs: Sequence[OutputRow] | None) -> dict[str, Any]:
    return {
        "id": entity.id,
        "commit_id": sha,
        "label": entity.label,
        "created_date": iso(entity.created_at),
        "data": {**entity.data, "commands": entity.commands},
        "batch_dir_url": dir_to_url(entity.batch_dir),
        "aggregated_metrics": aggregated_metrics(stats),
        "valid_outputs": stats.finished,
        "pending_outputs": stats.queued + stats.running,
        "running_outputs": stats.running,
        "failed_outputs": stats.failed,
        "deleted_outputs": 0,
        "outputs": None if outputs is None else {str(row.id): output(row) for row in outputs},
    }


def commit(view: CommitView, *, with_outputs: bool) -> dict[str, Any]:
    entity = view.commit
    branches, tags = view.branches, view.tags
    authored = entity.authored_at
    return {
        "id": entity.sha,
        "branch": next(iter(branches or tags), None),
        "branches": branches,
        "tags": tags,
        "parents": entity.parents,
        "message": entity.message,
        "committer_name": entity.committer_name,
        "authored_datetime": iso(authored),
        "authored_date": authored.date().isoformat() if authored else None,
        "latest_output_datetime": iso(entity.latest_output_at),
        "deleted": False,
        "data": entity.data,
        "outputs_url": dir_to_url(entity.outputs_dir),
        "artifacts_url": dir_to_url(entity.artifacts_dir),
        "repo_artifacts_url": dir_to_url(entity.artifacts_dir),
        "batches": {
            b.label: batch(
                entity.sha,
                b,
                view.stats[b.id or 0],
                view.outputs.get(b.id or 0) if with_outputs else None,
            )
            for b in view.batches
        },
    }


def commit_json(view: CommitView) -> bytes:
    """`commit(view, with_outputs=True)` as the response model encodes it, each batch's outputs map
    spliced in as PostgreSQL built it (`view.outputs_json`): the map is most of the bytes, and this
    spares decoding it, validating it and encoding it again.

    `outputs` is the last field of a batch and `batches` the last of a commit: each object is encoded
    without it, and the field is appended before its closing brace.
    """
    document = commit(view, with_outputs=False)
    batches = {
        label: V1Batch.model_validate(value).model_dump_json(exclude={"outputs"})
        for label, value in document.pop("batches").items()
    }
    head = V1Commit.model_validate({**document, "batches": {}}).model_dump_json(exclude={"batches"})
    ids = {b.label: b.id or 0 for b in view.batches}
    parts = [head[:-1], ',"batches":{']
    for n, (label, encoded) in enumerate(batches.items()):
        if n:
            parts.append(",")
        parts += [pydantic_core.to_json(label).decode(), ":", encoded[:-1], ',"outputs":']
        parts += [view.outputs_json.get(ids[label], "{}"), "}"]
    parts.append("}}")
    return "".join(parts).encode()


def project_summary(item: ProjectActivity) -> dict[str, Any]:
    """A project in QA-Board's project list."""
    return {
        "data": {"qatools_config": {"project": item.project.config.get("project", {})}},
        "latest_output_datetime": iso(item.latest_output_at),
        "latest_commit_datetime": iso(item.latest_commit_at),
        "total_commits": item.total_commits,
    }
