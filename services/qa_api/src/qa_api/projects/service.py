"""Projects: their config as the CLI last sent it, their activity, and their shared milestones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from qa_api.commits import repository as commits_repository
from qa_api.models import Project
from qa_api.projects import repository
from qa_api.projects.repository import ProjectActivity
from qahub_shared.errors import NotFound

# QA-Board's list is not paginated; the v1 listing stops here (use /api/v2/projects beyond).
V1_PROJECT_LIST_CAP = 10_000


async def get_project(session: AsyncSession, project_id: str) -> Project:
    project = await repository.get_project(session, project_id)
    if project is None:
        raise NotFound(f"No project '{project_id}'.")
    return project


# Without `project.reference_branch`, the first of these the project has commits on (as QA-Board
# defaults to master), else the first.
FALLBACK_REFERENCE_BRANCHES = ("master", "main")


async def reference_branch(session: AsyncSession, project_id: str) -> str:
    """The branch the project compares against by default: `project.reference_branch` in its config,
    else `master` or `main`, whichever the project has commits on (`master` when it has neither)."""
    project = await get_project(session, project_id)
    settings = project.config.get("project")
    branch = settings.get("reference_branch") if isinstance(settings, dict) else None
    if isinstance(branch, str) and branch:
        return branch
    for fallback in FALLBACK_REFERENCE_BRANCHES:
        if await commits_repository.has_commits_on(session, project_id, fallback):
            return fallback
    return FALLBACK_REFERENCE_BRANCHES[0]


async def all_projects(session: AsyncSession, *, visible: Sequence[str] | None) -> list[ProjectActivity]:
    """Every project (up to a cap); only those matching the `visible` patterns when given."""
    return await repository.list_projects(session, after=None, limit=V1_PROJECT_LIST_CAP, visible=visible)


async def page_of_projects(
    session: AsyncSession,
    *,
    after: str | None,
    limit: int,
    prefix: str | None,
    visible: Sequence[str] | None,
) -> list[ProjectActivity]:
    return await repository.list_projects(session, after=after, limit=limit, prefix=prefix, visible=visible)


async def milestones(session: AsyncSession, project_id: str) -> dict[str, dict[str, Any]]:
    return await repository.milestones(session, project_id)


async def save_milestone(
    session: AsyncSession, project_id: str, key: str, milestone: dict[str, Any] | None
) -> dict[str, dict[str, Any]]:
    """Save (or with None, remove) a milestone; returns the project's milestones."""
    async with session.begin():
        await get_project(session, project_id)
        if milestone is None:
            await repository.delete_milestone(session, project_id, key)
        else:
            await repository.save_milestone(session, project_id, key, milestone)
        return await repository.milestones(session, project_id)
