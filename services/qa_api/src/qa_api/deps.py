"""Request dependencies shared by the routers: a database session, identity, and the access gates.

Every route that writes takes `WriteAccess` and checks the project it writes to (`access.check(project)`):
the caller needs a token with `runs:write` on that project. Every route that reads takes `ReadAccess`:
with open reads (`QAHUB_OPEN_READS`, default: open in dev, closed in production) it lets everyone
through; otherwise it needs `runs:read` on the project read, and lists show only the projects the token
may see.

All are `async def`: FastAPI runs a plain `def` dependency in a worker thread, a handoff that cost the
write path of runs more than the dependency itself. The `qa` CLI's run reports skip dependencies
altogether (FastAPI's solving of them was a sixth of that route's CPU): the route takes the request and
calls `write_access(request)`, which decides exactly as `WriteAccess` does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from qa_api.identity.setup import Identity
from qa_api.params import ProjectParam
from qahub_shared.auth.dependencies import current_principal, optional_principal, principal_of
from qahub_shared.auth.principal import Principal, Scope


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessions() as session:
        yield session


async def _identity(request: Request) -> Identity:
    identity: Identity = request.state.identity
    return identity


@dataclass(frozen=True, slots=True)
class Access:
    """What the caller of a request may do with `scope`; `principal` None: everything (open reads)."""

    scope: Scope
    principal: Principal | None

    @property
    def projects(self) -> tuple[str, ...] | None:
        """Patterns of the projects the caller may see; None: every project."""
        return None if self.principal is None else self.principal.projects

    def check(self, project: str) -> None:
        """403 unless the caller holds the scope on `project`."""
        if self.principal is not None:
            self.principal.require(self.scope, project)


def _writer(principal: Principal, scope: Scope = Scope.RUNS_WRITE) -> Access:
    principal.require(scope)
    return Access(scope, principal)


async def _write_access(principal: Annotated[Principal, Depends(current_principal)]) -> Access:
    return _writer(principal)


async def _commits_write_access(principal: Annotated[Principal, Depends(current_principal)]) -> Access:
    return _writer(principal, Scope.COMMITS_WRITE)


async def write_access(request: Request) -> Access:
    """What `WriteAccess` gives, for a route that takes the request itself instead of dependencies."""
    return _writer(await current_principal(await principal_of(request)))


async def _read_access(
    request: Request, principal: Annotated[Principal | None, Depends(optional_principal)]
) -> Access:
    if request.state.settings.reads_are_open:
        return Access(Scope.RUNS_READ, None)
    principal = await current_principal(principal)
    principal.require(Scope.RUNS_READ)
    return Access(Scope.RUNS_READ, principal)


async def _readable_project(project: ProjectParam, access: Annotated[Access, Depends(_read_access)]) -> str:
    access.check(project)
    return project


SessionDep = Annotated[AsyncSession, Depends(_session)]
IdentityDep = Annotated[Identity, Depends(_identity)]
WriteAccess = Annotated[Access, Depends(_write_access)]
CommitsWriteAccess = Annotated[Access, Depends(_commits_write_access)]
"""`commits:write`: what git says about commits and refs (the webhook listener's token)."""
ReadAccess = Annotated[Access, Depends(_read_access)]
ReadableProject = Annotated[str, Depends(_readable_project)]
"""The `project` query parameter, validated, of a project the caller may read."""
