"""Registering and removing repositories; queueing reconciliations."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from qahub_shared.errors import Conflict, InvalidInput, NotFound
from webhook_listener import mirror
from webhook_listener.config import Settings
from webhook_listener.deliveries import repository as inbox
from webhook_listener.repositories import repository as repositories
from webhook_listener.repositories.repository import Repository
from webhook_listener.repositories.schemas import (
    Provider,
    ReconcileQueued,
    RepositoryCreate,
    RepositoryPage,
    RepositoryPublic,
)

logger = logging.getLogger(__name__)


def clone_url_allowed(settings: Settings, url: str) -> bool:
    """Registered clone URLs only: an allowed prefix, or `file://` when the settings enable it. An
    http(s) URL is compared without its user and password, so a token in it does not hide its host
    (`https://gitlab.example.com@elsewhere/...` is not on gitlab.example.com)."""
    if url.lower().startswith("file:"):
        return settings.webhook_allow_file_urls and url.startswith("file:///")
    fetched = mirror.remote_of(url).url
    return any(fetched.startswith(prefix) for prefix in settings.webhook_allowed_clone_url_prefixes)


def mirror_path(settings: Settings, found: Repository) -> Path:
    """One flat folder per repository, named by a digest of its path: `a/b`'s can never contain
    `a/b.git/c`'s, as nested folders named after the paths would."""
    digest = hashlib.sha256(found.path.encode()).hexdigest()[:32]
    return settings.mirror_dir / found.provider / f"{digest}.git"


def public(found: Repository) -> RepositoryPublic:
    return RepositoryPublic(
        id=found.id,
        provider=Provider(found.provider),
        project=found.path,
        clone_url=mirror.redact(found.clone_url),
        created_at=found.created_at,
    )


async def register(engine: AsyncEngine, settings: Settings, body: RepositoryCreate) -> RepositoryPublic:
    if not clone_url_allowed(settings, body.clone_url):
        allowed = ", ".join(settings.webhook_allowed_clone_url_prefixes)
        files = " (file:// is enabled)" if settings.webhook_allow_file_urls else ""
        raise InvalidInput(f"The clone URL must start with one of: {allowed}{files}.")
    async with engine.begin() as connection:
        created = await repositories.create(
            connection,
            provider=body.provider.value,
            path=body.project,
            secret=body.secret.get_secret_value(),
            clone_url=body.clone_url,
        )
        if created is None:
            raise Conflict(f"{body.provider.value} repository {body.project!r} is registered already.")
        # the first fetch sends the history qa_api lacks, before any push arrives
        await inbox.queue_reconcile(connection, created.id)
    logger.info("registered %s repository %s", created.provider, created.path)
    return public(created)


async def list_page(engine: AsyncEngine, *, cursor: int | None, limit: int) -> RepositoryPage:
    async with engine.connect() as connection:
        rows = await repositories.page(connection, after_id=cursor or 0, limit=limit + 1)
    items = [public(row) for row in rows[:limit]]
    return RepositoryPage(items=items, next_cursor=str(items[-1].id) if len(rows) > limit else None)


async def remove(
    engine: AsyncEngine, settings: Settings, provider: Provider, project: str
) -> RepositoryPublic:
    async with engine.begin() as connection:
        found = await repositories.find(connection, provider=provider.value, path=project)
        if found is None:
            raise NotFound(f"No {provider.value} repository {project!r}.")
        await repositories.remove(connection, found.id)
    await asyncio.to_thread(mirror.remove_mirror, mirror_path(settings, found))
    logger.info("removed %s repository %s, its deliveries and its mirror", found.provider, found.path)
    return public(found)


async def reconcile(
    engine: AsyncEngine, *, provider: Provider | None, project: str | None
) -> ReconcileQueued:
    async with engine.begin() as connection:
        if project is not None:
            found = None
            for candidate in [provider] if provider else list(Provider):
                found = found or await repositories.find(connection, provider=candidate.value, path=project)
            if found is None:
                raise NotFound(f"No repository {project!r}.")
            ids = [found.id]
        else:
            ids = await repositories.all_ids(connection)
        queued = [await inbox.queue_reconcile(connection, repository_id) for repository_id in ids]
    return ReconcileQueued(repositories=sum(queued))
