"""SQL of registered repositories and of what qa_api was last told about their refs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from webhook_listener.changes import SentRef
from webhook_listener.db import repository, sent_ref
from webhook_listener.mirror import RefKey


@dataclass(frozen=True, slots=True)
class Repository:
    id: int
    provider: str
    path: str
    secret: str
    clone_url: str
    created_at: datetime

    def __repr__(self) -> str:  # the secret stays out of logs and tracebacks
        return f"Repository(id={self.id}, provider={self.provider!r}, path={self.path!r})"


_COLUMNS = (
    repository.c.id,
    repository.c.provider,
    repository.c.path,
    repository.c.secret,
    repository.c.clone_url,
    repository.c.created_at,
)


async def create(
    connection: AsyncConnection, *, provider: str, path: str, secret: str, clone_url: str
) -> Repository | None:
    """The new repository; None when one is registered for this provider and path already."""
    statement = (
        pg_insert(repository)
        .values(provider=provider, path=path, secret=secret, clone_url=clone_url)
        .on_conflict_do_nothing(index_elements=["provider", "path"])
        .returning(*_COLUMNS)
    )
    row = (await connection.execute(statement)).one_or_none()
    return None if row is None else Repository(*row)


async def find(connection: AsyncConnection, *, provider: str, path: str) -> Repository | None:
    statement = select(*_COLUMNS).where(repository.c.provider == provider, repository.c.path == path)
    row = (await connection.execute(statement)).one_or_none()
    return None if row is None else Repository(*row)


async def get(connection: AsyncConnection, repository_id: int) -> Repository | None:
    row = (await connection.execute(select(*_COLUMNS).where(repository.c.id == repository_id))).one_or_none()
    return None if row is None else Repository(*row)


async def page(connection: AsyncConnection, *, after_id: int, limit: int) -> list[Repository]:
    statement = select(*_COLUMNS).where(repository.c.id > after_id).order_by(repository.c.id).limit(limit)
    return [Repository(*row) for row in await connection.execute(statement)]


async def all_ids(connection: AsyncConnection) -> list[int]:
    return list((await connection.execute(select(repository.c.id).order_by(repository.c.id))).scalars())


async def remove(connection: AsyncConnection, repository_id: int) -> None:
    await connection.execute(delete(repository).where(repository.c.id == repository_id))


async def sent_refs(connection: AsyncConnection, repository_id: int) -> dict[RefKey, SentRef]:
    statement = select(sent_ref.c.kind, sent_ref.c.name, sent_ref.c.sha, sent_ref.c.projects).where(
        sent_ref.c.repository_id == repository_id
    )
    return {
        RefKey(kind, name): SentRef(sha, tuple(projects))
        for kind, name, sha, projects in await connection.execute(statement)
    }


async def record_sent_refs(
    connection: AsyncConnection, repository_id: int, refs: dict[RefKey, SentRef | None]
) -> None:
    """Remember what qa_api now knows of these refs (None: the ref is gone)."""
    for key, ref in refs.items():
        where = (
            sent_ref.c.repository_id == repository_id,
            sent_ref.c.kind == key.kind,
            sent_ref.c.name == key.name,
        )
        await connection.execute(delete(sent_ref).where(*where))
        if ref is not None:
            await connection.execute(
                insert(sent_ref).values(
                    repository_id=repository_id,
                    kind=key.kind,
                    name=key.name,
                    sha=ref.sha,
                    projects=list(ref.projects),
                )
            )
