"""`/api/v2/projects`: the typed read API for projects."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from qa_api.deps import ReadAccess, SessionDep
from qa_api.params import DEFAULT_LIMIT, Cursor, Limit, project_id
from qa_api.projects import service
from qa_api.projects.schemas import ProjectDetail, ProjectSummary
from qahub_shared.schemas.pagination import Page, decode_cursor, encode_cursor

router = APIRouter(prefix="/api/v2/projects", tags=["projects"])


@router.get("", summary="List projects")
async def list_projects(
    access: ReadAccess,
    session: SessionDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
    prefix: Annotated[
        str | None, Query(max_length=255, description="Only ids starting with this, e.g. `group/`.")
    ] = None,
) -> Page[ProjectSummary]:
    """Projects in id order, with their number of commits and latest activity (the ones the token may
    see, when reads need a token)."""
    after = str(decode_cursor(cursor, keys={"id"})["id"]) if cursor else None
    found = await service.page_of_projects(
        session, after=after, limit=limit + 1, prefix=prefix, visible=access.projects
    )
    items = [ProjectSummary.of(item) for item in found[:limit]]
    next_cursor = encode_cursor({"id": items[-1].id}) if len(found) > limit else None
    return Page[ProjectSummary](items=items, next_cursor=next_cursor)


@router.get("/{project:path}", summary="Get a project")
async def get_project(
    project: Annotated[str, Path(description="Project id, e.g. `group/repo/sub/dir`.")],
    access: ReadAccess,
    session: SessionDep,
) -> ProjectDetail:
    access.check(project)
    entity = await service.get_project(session, project_id(project))
    return ProjectDetail(
        id=entity.id,
        config=entity.config,
        metric_definitions=entity.metric_definitions,
        milestones=await service.milestones(session, entity.id),
        created_at=entity.created_at,
        updated_at=entity.updated_at,
    )
