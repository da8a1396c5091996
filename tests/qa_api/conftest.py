"""qa_api under test: a migrated database, the app in-process, and a clean slate for every test.

`client` carries a token with `runs:write` on every project (what CI uses); `anonymous` carries none.
Users and tokens survive from test to test (the run tables are emptied): tests that create users give
them names of their own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.types import ASGIApp

from qa_api.config import Settings
from qa_api.main import create_app
from qahub_shared.auth.keys import generate_pem
from tests.qa_api.identity.helpers import ADMIN_PASSWORD
from tests.servers import fresh_database, migrate

TABLES = "project, commit, commit_ref, git_ref, batch, batch_change, test_input, output, milestone"


@pytest.fixture(scope="session")
def database_url(postgres_url: str) -> Iterator[str]:
    with fresh_database(postgres_url) as url:
        migrate(url)
        yield url


BASE_URL = "http://qa-api.test"


@pytest.fixture(scope="session")
def signing_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "signing-key.pem"
    path.write_text(generate_pem())
    path.chmod(0o600)
    return path


@pytest.fixture(scope="session")
def settings(database_url: str, signing_key_file: Path) -> Settings:
    return Settings(
        database_url=database_url,
        max_body_bytes=1024 * 1024,
        jwt_signing_key_file=signing_key_file,
        admin_password=SecretStr(ADMIN_PASSWORD),
        # every test logs in from the same address; the per-address limit has its own test
        login_attempts_per_address=100_000,
    )


@pytest.fixture(scope="session")
def application(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture(scope="session")
async def app(application: FastAPI) -> AsyncIterator[ASGIApp]:
    async with LifespanManager(application) as manager:
        yield manager.app


@pytest.fixture(scope="session")
async def anonymous(app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    """A client that sends no token."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client:
        yield client


@pytest.fixture(scope="session")
async def admin_token(anonymous: httpx.AsyncClient) -> str:
    login = await anonymous.post("/api/v2/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert login.status_code == 200, login.text
    token: str = login.json()["access_token"]
    return token


@pytest.fixture(scope="session")
async def session_client(
    app: ASGIApp, anonymous: httpx.AsyncClient, admin_token: str
) -> AsyncIterator[httpx.AsyncClient]:
    created = await anonymous.post(
        "/api/v2/tokens",
        json={"name": "tests", "scopes": ["runs:write"]},
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert created.status_code == 201, created.text
    headers = {"Authorization": f"Bearer {created.json()['access_token']}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers) as client:
        yield client


@pytest.fixture
async def client(
    session_client: httpx.AsyncClient, settings: Settings, application: FastAPI
) -> httpx.AsyncClient:
    """The API client of a CI job (`runs:write` on every project), on an empty database."""
    engine = create_async_engine(settings.database_url)
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    await engine.dispose()
    # ids restart with the tables: what the app remembers of the previous test's rows is wrong now
    application.state.known_rows.forget_all()
    return session_client
