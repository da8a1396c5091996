"""`/api/v2/commits`: the typed read API for commits."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from qa_api.commits import service
from qa_api.commits.repository import CommitFilters
from qa_api.commits.schemas import CommitSummary
from qa_api.deps import ReadableProject, SessionDep
from qa_api.params import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    metric_names,
    time_and_id_cursor,
)
from qa_api.projects import service as projects
from qahub_shared.errors import InvalidInput
from qahub_shared.schemas.pagination import Page, encode_cursor

router = APIRouter(prefix="/api/v2", tags=["commits"])

Text = Annotated[str | None, Query(max_length=255)]
MetricsParam = Annotated[
    str | None,
    Query(description="Metrics to aggregate: `a,b,c` (default: the project's summary metrics)."),
]


async def _metrics(session: SessionDep, project: str, raw: str | None) -> list[str]:
    if raw is not None:
        return metric_names(raw)
    entity = await projects.get_project(session, project)
    summary = entity.metric_definitions.get("summary_metrics")
    if isinstance(summary, list):
        return metric_names(",".join(str(name) for name in summary))
    return []


@router.get("/commits", summary="List a project's commits")
async def list_commits(
    project: ReadableProject,
    session: SessionDep,
    branch: Text = None,
    tag: Text = None,
    committer: Annotated[
        str | None, Query(max_length=255, description="Part of a committer/author name or email.")
    ] = None,
    since: Annotated[datetime | None, Query(description="Authored at or after (ISO 8601).")] = None,
    until: Annotated[datetime | None, Query(description="Authored before (ISO 8601).")] = None,
    batch: Annotated[
        str | None,
        Query(max_length=255, description="Only commits with this batch; only it shown."),
    ] = None,
    q: Annotated[
        str | None, Query(max_length=255, description="Text in the message, a sha prefix, a ref.")
    ] = None,
    metrics: MetricsParam = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[CommitSummary]:
    """Newest first, each with its batches' output counts and metric aggregates (computed in SQL)."""
    if since and until and since >= until:
        raise InvalidInput("since: must be before until")
    filters = CommitFilters(
        branch=branch,
        tag=tag,
        committer=committer,
        since=since,
        until=until,
        batch_label=batch,
        text=q,
    )
    found = await service.commit_page(
        session,
        project,
        filters,
        after=time_and_id_cursor(cursor),
        limit=limit + 1,
        labels=[batch] if batch else None,
        metrics=await _metrics(session, project, metrics),
    )
    page = found[:limit]
    next_cursor = None
    if len(found) > limit:
        last = page[-1].commit
        next_cursor = encode_cursor({"t": last["authored_at"].isoformat(), "id": last["id"]})
    return Page[CommitSummary].model_validate(
        {"items": [CommitSummary.page_document(item) for item in page], "next_cursor": next_cursor}
    )


@router.get("/commits/{reference:path}", summary="Get a commit")
async def get_commit(
    reference: Annotated[str, Path(max_length=255, description="A sha (or prefix), branch or tag.")],
    project: ReadableProject,
    session: SessionDep,
    batch: Text = None,
    metrics: MetricsParam = None,
) -> CommitSummary:
    commit = await service.find_commit(session, project, reference)
    view = await service.view_commit(
        session,
        commit,
        labels=[batch] if batch else None,
        metrics=await _metrics(session, project, metrics),
        with_outputs=False,
    )
    return CommitSummary.of(view)
