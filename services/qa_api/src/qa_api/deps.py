"""Request dependencies shared by the routers: the database, and the guard of every write.

All are `async def`: FastAPI runs a plain `def` dependency in a worker thread, a handoff that cost the
write path of runs more than the dependency itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from qa_api.db import Database
from qa_api.outputs.known import KnownRows


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessions() as session:
        yield session


async def _database(request: Request) -> Database:
    database: Database = request.state.database
    return database


async def _known_rows(request: Request) -> KnownRows:
    known: KnownRows = request.app.state.known_rows
    return known


async def require_write_access() -> None:
    """The one gate every write route passes through.

    Writes are open until the identity service lands (issue "Identity and access"): it replaces this
    body with a check of the caller's token for `runs:write` on the project, and nothing else changes.
    """


SessionDep = Annotated[AsyncSession, Depends(_session)]
DatabaseDep = Annotated[Database, Depends(_database)]
KnownRowsDep = Annotated[KnownRows, Depends(_known_rows)]
WriteAccess = Depends(require_write_access)
