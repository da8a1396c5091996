"""Admin API of registered repositories (`admin` scope): register, list, remove, reconcile."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from qahub_shared.auth.principal import Scope
from qahub_shared.errors import ERROR_RESPONSES
from qahub_shared.schemas.identifiers import ProjectId
from webhook_listener.deps import Admin, EngineDep, SettingsDep, WorkersDep, require_every_project
from webhook_listener.repositories import service
from webhook_listener.repositories.schemas import (
    Provider,
    ReconcileQueued,
    RepositoryCreate,
    RepositoryPage,
    RepositoryPublic,
)

router = APIRouter(prefix="/api/v2", tags=["repositories"], responses=ERROR_RESPONSES)


@router.post("/repositories", status_code=201, summary="Register a repository and its webhook secret")
async def register(
    body: RepositoryCreate, admin: Admin, engine: EngineDep, settings: SettingsDep, workers: WorkersDep
) -> RepositoryPublic:
    admin.require(Scope.ADMIN, body.project)  # an admin token restricted to projects: only those
    created = await service.register(engine, settings, body)
    workers.wake()
    return created


@router.get("/repositories", summary="Registered repositories (never their secret)")
async def list_repositories(
    admin: Admin,
    engine: EngineDep,
    cursor: Annotated[int | None, Query(ge=0)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> RepositoryPage:
    """An admin token restricted to projects sees only those (a page may then hold fewer items)."""
    page = await service.list_page(engine, cursor=cursor, limit=limit)
    page.items = [item for item in page.items if admin.can_see(item.project)]
    return page


@router.delete(
    "/repositories/{provider}/{project:path}",
    summary="Forget a repository: its deliveries, what was sent, its mirror",
)
async def remove(
    provider: Provider,
    project: Annotated[ProjectId, Path()],
    admin: Admin,
    engine: EngineDep,
    settings: SettingsDep,
) -> RepositoryPublic:
    admin.require(Scope.ADMIN, project)
    return await service.remove(engine, settings, provider, project)


@router.post(
    "/reconcile",
    status_code=202,
    summary="Fetch repositories and send qa_api the commits and refs it lacks",
)
async def reconcile(
    admin: Admin,
    engine: EngineDep,
    workers: WorkersDep,
    project: Annotated[ProjectId | None, Query(description="Only this repository.")] = None,
    provider: Provider | None = None,
) -> ReconcileQueued:
    if project is None:
        require_every_project(admin)
    else:
        admin.require(Scope.ADMIN, project)
    queued = await service.reconcile(engine, provider=provider, project=project)
    workers.wake()
    return queued
