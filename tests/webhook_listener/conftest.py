"""The listener under test, against real servers: PostgreSQL, qa_api as a process, git over `file://`.

qa_api and the listener share one fresh database, as they may in production (each with its own tables
and migration history). Each test registers repositories of its own (`unique_project`), so tests need no
clean slate. qa_api runs for the whole session; a test may stop it and start it again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from tests.servers import fresh_database, migrate
from tests.webhook_listener import payloads
from tests.webhook_listener.gitrepo import Origin
from tests.webhook_listener.qa_api_server import QaApiProcess
from webhook_listener.config import Settings
from webhook_listener.main import create_app

SECRET = "s3cret-of-the-hook"
SETTLE_TIMEOUT_S = 60.0


@pytest.fixture(scope="session")
def database_url(postgres_url: str) -> Iterator[str]:
    with fresh_database(postgres_url, prefix="qahub_listener_test") as url:
        migrate(url)
        migrate(url, "webhook_listener")
        yield url


@pytest.fixture(scope="session")
def qa_api(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[QaApiProcess]:
    server = QaApiProcess(database_url, tmp_path_factory.mktemp("qa_api"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def admin_token(qa_api: QaApiProcess) -> str:
    return qa_api.admin_token()


@pytest.fixture(scope="session")
def commits_token(qa_api: QaApiProcess, admin_token: str) -> str:
    """The listener's token for qa_api: `commits:write` only."""
    return qa_api.create_token(admin_token, name="webhook-listener", scopes=["commits:write"])


@pytest.fixture
def qa_api_up(qa_api: QaApiProcess) -> Iterator[QaApiProcess]:
    """qa_api, started again after the test if the test stopped it."""
    yield qa_api
    try:
        httpx.get(f"{qa_api.url}/healthz", timeout=2, trust_env=False)
    except httpx.TransportError:
        qa_api.start()


@pytest.fixture
def settings(database_url: str, qa_api: QaApiProcess, commits_token: str, tmp_path: Path) -> Settings:
    return Settings(
        webhook_database_url=database_url,
        database_pool_size=5,
        max_body_bytes=256 * 1024,
        data_dir=tmp_path / "data",
        webhook_allow_file_urls=True,
        api_url=qa_api.url,
        webhook_qa_api_token=SecretStr(commits_token),
        webhook_poll_seconds=0.2,
        webhook_retry_min_seconds=0.2,
        webhook_retry_max_seconds=1.0,
        webhook_max_git_attempts=2,
        webhook_reconcile_seconds=0,
    )


def unique_project() -> str:
    return f"group/repo-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    root = tmp_path / "git"
    root.mkdir()
    return Origin(root)


class Listener:
    """The listener in-process (its lifespan running: workers included) and a client for it."""

    def __init__(self, client: httpx.AsyncClient, admin_token: str) -> None:
        self.client = client
        self.admin = {"Authorization": f"Bearer {admin_token}"}

    async def register(
        self, project: str, clone_url: str, *, provider: str = "gitlab", secret: str = SECRET
    ) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v2/repositories",
            json={"provider": provider, "project": project, "secret": secret, "clone_url": clone_url},
            headers=self.admin,
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def gitlab(
        self, body: dict[str, Any], *, secret: str = SECRET, event: str | None = None, key: str | None = None
    ) -> httpx.Response:
        event = event or ("Tag Push Hook" if body["ref"].startswith("refs/tags/") else "Push Hook")
        return await self.client.post(
            "/webhooks/gitlab", json=body, headers=payloads.gitlab_headers(secret, event=event, key=key)
        )

    async def github(
        self, body: dict[str, Any], *, secret: str = SECRET, key: str | None = None
    ) -> httpx.Response:
        raw = httpx.Request("POST", "/", json=body).content
        return await self.client.post(
            "/webhooks/github", content=raw, headers=payloads.github_headers(secret, raw, key=key)
        )

    async def deliveries(self, project: str) -> list[dict[str, Any]]:
        response = await self.client.get(
            "/api/v2/deliveries", params={"project": project}, headers=self.admin
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def settled(self, project: str) -> list[dict[str, Any]]:
        """The project's deliveries once none is waiting or being processed (newest first)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_TIMEOUT_S
        while True:
            items = await self.deliveries(project)
            if items and all(item["state"] in ("done", "failed") for item in items):
                return items
            if loop.time() > deadline:
                raise AssertionError(f"deliveries of {project} did not settle: {items}")
            await asyncio.sleep(0.1)


@asynccontextmanager
async def running_listener(settings: Settings, admin_token: str) -> AsyncIterator[Listener]:
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://listener.test") as client:
            yield Listener(client, admin_token)


@pytest.fixture
async def listener(settings: Settings, admin_token: str) -> AsyncIterator[Listener]:
    async with running_listener(settings, admin_token) as running:
        yield running


@pytest.fixture
async def qa_api_client(qa_api: QaApiProcess, admin_token: str) -> AsyncIterator[httpx.AsyncClient]:
    """Reads qa_api as users do (an admin's token)."""
    async with httpx.AsyncClient(
        base_url=qa_api.url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=10, trust_env=False
    ) as client:
        yield client
