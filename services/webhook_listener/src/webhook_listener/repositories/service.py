"""Registering and removing repositories; queueing reconciliations."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import urllib.parse
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


def clone_url_refusal(settings: Settings, url: str) -> str | None:
    """Why the listener will not fetch from `url` (to follow "The clone URL"); None when it will.

    Registered clone URLs only: an allowed prefix, or `file://` when the settings enable it. A prefix
    naming a host (`https://gitlab.example.com/group/`, `git@gitlab.example.com:`) admits a URL on that
    very host (and port, and SSH login when the prefix names one) under that path: compared part by part,
    never as text, so neither credentials (`https://gitlab.example.com@elsewhere/`) nor a longer host name
    (`https://gitlab.example.com.elsewhere/`) pass for it, and its path admits whole segments only
    (`/group` admits `/group/x.git`, not `/group-evil/x.git`). A prefix without a host (the defaults
    `https://`, `ssh://`, `git@`) admits any URL that starts with it. A URL that cannot be read as one
    (`git@[::1]:x`, a port that is not a number), or whose path has a `.` or `..` segment (percent-encoded
    too: `%2e%2e`), is refused whatever the prefixes."""
    try:
        fetched = mirror.remote_of(url).url
        found = _location(fetched)
    except ValueError:
        return "cannot be read as a URL"
    # git (curl) resolves them before asking: `/group/../other/x.git` fetches `/other/x.git`
    if any(segment in (".", "..") for segment in _segments(found.path)):
        return "has a '.' or '..' segment in its path"
    if url.lower().startswith("file:"):
        if settings.webhook_allow_file_urls and url.startswith("file:///"):
            return None
    elif any(_admits(prefix, fetched, found) for prefix in settings.webhook_allowed_clone_url_prefixes):
        return None
    allowed = ", ".join(settings.webhook_allowed_clone_url_prefixes)
    if settings.webhook_allow_file_urls:
        return f"must start with one of: {allowed} (file:// is enabled)"
    if url.lower().startswith("file:"):
        # the one setting that admits it is not a prefix: name it, or the user hunts for it
        return (
            f"must start with one of: {allowed}; file:/// URLs are accepted only with "
            "QAHUB_WEBHOOK_ALLOW_FILE_URLS=true (development and tests; production refuses it)"
        )
    return f"must start with one of: {allowed}"


def clone_url_allowed(settings: Settings, url: str) -> bool:
    """Whether the listener may fetch from `url`: `clone_url_refusal` has nothing against it."""
    return clone_url_refusal(settings, url) is None


_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[^@/:]+):(?!//)(?P<path>.*)$")


def _location(url: str) -> urllib.parse.SplitResult:
    """The URL's parts; git's scp-like `user@host:path` is read as `ssh://user@host/path`. Raises
    ValueError for what cannot be read as a URL (`[::1`, a bracketed host that is no IP address, a port
    that is not a number)."""
    scp = _SCP_LIKE.match(url) if "://" not in url else None
    if scp is not None:
        login = f"{scp['user']}@" if scp["user"] else ""
        url = f"ssh://{login}{scp['host']}/{scp['path']}"
    parts = urllib.parse.urlsplit(url)
    _ = parts.hostname, parts.port  # computed when read: read now, so that their ValueError is raised here
    return parts


def _admits(prefix: str, url: str, found: urllib.parse.SplitResult) -> bool:
    """Whether `prefix` admits `url` (read as `found`), both without the login of an http(s) URL, which is
    a credential (an ssh login is compared); a prefix that cannot be read admits nothing."""
    try:
        prefix = mirror.remote_of(prefix).url
        allowed = _location(prefix)
    except ValueError:
        return False
    if not allowed.hostname:
        return url.startswith(prefix)
    same_place = (
        found.scheme.lower() == allowed.scheme.lower()
        and found.hostname == allowed.hostname
        and (allowed.port is None or found.port == allowed.port)
    )
    if not same_place or (allowed.username is not None and found.username != allowed.username):
        return False
    # whole segments: `/group` (or `/group/`) admits `/group/x.git`, not `/group-evil/x.git`
    within = [segment for segment in _segments(allowed.path) if segment]
    return _segments(found.path)[1 : len(within) + 1] == within


def _segments(path: str) -> list[str]:
    """The path's segments (the first is the empty one before its leading '/'), percent-decoded as a
    server decodes them: `%2e%2E` is `..`, `%2F` a '/'."""
    return urllib.parse.unquote(path).split("/")


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
    refusal = clone_url_refusal(settings, body.clone_url)
    if refusal is not None:
        raise InvalidInput(f"The clone URL {refusal}.")
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
