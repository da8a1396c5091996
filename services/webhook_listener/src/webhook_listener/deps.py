"""Dependencies of the routes: the database engine, the workers, and the admin caller."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from qahub_shared.auth.dependencies import Caller
from qahub_shared.auth.principal import Principal, Scope
from qahub_shared.errors import Forbidden
from webhook_listener.config import Settings

if TYPE_CHECKING:
    from webhook_listener.workers import Workers


def _engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.state.engine
    return engine


def _workers(request: Request) -> Workers:
    workers: Workers = request.state.workers
    return workers


def _settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


async def _admin(caller: Caller) -> Principal:
    caller.require(Scope.ADMIN)
    return caller


def require_every_project(admin: Principal) -> None:
    """403 for an admin token restricted to projects: the action spans every repository."""
    if admin.projects is not None:
        raise Forbidden(
            "This token is restricted to projects "
            f"({', '.join(admin.projects)}): name one with ?project= (and ?provider=)."
        )


EngineDep = Annotated[AsyncEngine, Depends(_engine)]
WorkersDep = Annotated["Workers", Depends(_workers)]
SettingsDep = Annotated[Settings, Depends(_settings)]
Admin = Annotated[Principal, Depends(_admin)]
