"""SQL for projects and their shared milestones."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, false, func, literal, or_, select, true
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from qa_api.models import (
    Milestone,
    Project,
    commit_table,
    milestone_table,
    project_table,
)

P = project_table.c
C = commit_table.c
M = milestone_table.c


@dataclass(frozen=True)
class ProjectActivity:
    project: Project
    total_commits: int
    latest_commit_at: datetime | None
    latest_output_at: datetime | None


async def get_project(session: AsyncSession, project_id: str) -> Project | None:
    return await session.get(Project, project_id)


async def ensure_project(session: AsyncSession, project_id: str) -> None:
    await session.execute(insert(Project).values(id=project_id).on_conflict_do_nothing())


async def save_project_config(
    session: AsyncSession,
    project_id: str,
    *,
    config: dict[str, Any] | None,
    metric_definitions: dict[str, Any] | None,
    replace: bool,
) -> None:
    """Create the project with the config / metric definitions sent; an existing project takes them
    when `replace`, or when it has none yet."""
    values: dict[str, Any] = {"id": project_id}
    if config is not None:
        values["config"] = config
    if metric_definitions is not None:
        values["metric_definitions"] = metric_definitions
    statement = insert(Project).values(**values)
    changes: dict[str, Any] = {key: statement.excluded[key] for key in values if key != "id"}
    if changes:
        changes["updated_at"] = func.now()
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["id"],
                set_=changes,
                where=or_(literal(replace), P.config == literal({}, type_=P.config.type)),
            )
        )
    else:
        await session.execute(statement.on_conflict_do_nothing())


def _activity_query() -> Any:
    stats = (
        select(
            C.project_id,
            func.count().label("total_commits"),
            func.max(C.authored_at).label("latest_commit_at"),
            func.max(C.latest_output_at).label("latest_output_at"),
        )
        .group_by(C.project_id)
        .subquery()
    )
    return select(
        Project,
        func.coalesce(stats.c.total_commits, 0),
        stats.c.latest_commit_at,
        stats.c.latest_output_at,
    ).outerjoin(stats, stats.c.project_id == P.id)


def _visible(patterns: Sequence[str]) -> ColumnElement[bool]:
    """SQL for "the project id matches one of these patterns" (`*`, `group/repo`, `group/*`)."""
    if "*" in patterns:
        return true()
    matches = [
        P.id.startswith(pattern[:-1], autoescape=True) if pattern.endswith("/*") else P.id == pattern
        for pattern in patterns
    ]
    return or_(*matches) if matches else false()


async def list_projects(
    session: AsyncSession,
    *,
    after: str | None,
    limit: int,
    prefix: str | None = None,
    visible: Sequence[str] | None = None,
) -> list[ProjectActivity]:
    """Projects in id order, keyset-paginated after the id `after`; only `visible` ones when given."""
    query = _activity_query().order_by(P.id).limit(limit)
    if after is not None:
        query = query.where(P.id > after)
    if prefix:
        query = query.where(P.id.startswith(prefix, autoescape=True))
    if visible is not None:
        query = query.where(_visible(visible))
    rows = await session.execute(query)
    return [ProjectActivity(*row) for row in rows]


async def milestones(session: AsyncSession, project_id: str) -> dict[str, dict[str, Any]]:
    rows = await session.execute(select(M.key, M.data).where(M.project_id == project_id).order_by(M.key))
    return dict(rows.all())


async def save_milestone(session: AsyncSession, project_id: str, key: str, data: dict[str, Any]) -> None:
    statement = insert(Milestone).values(project_id=project_id, key=key, data=data)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["project_id", "key"],
            set_={"data": statement.excluded.data, "updated_at": func.now()},
        )
    )


async def delete_milestone(session: AsyncSession, project_id: str, key: str) -> None:
    await session.execute(delete(Milestone).where(M.project_id == project_id, M.key == key))
