"""The broker under test, on real servers: InfluxDB 1.x (`influxd`), and qa_api as its own process
(the identity issuer: logins, tokens, keys, revocations) on a fresh PostgreSQL database, where the
broker's spool lives too (its own schema, its own migrations), as in one QA Hub deployment.

The broker runs in-process (its lifespan run by `LifespanManager`) and writes to databases named for this
test session (`t<hex>_TFA_CodeChurn`...), dropped at the end, so a shared InfluxDB
(`QAHUB_TEST_INFLUX_URL`) is never touched outside them. `reader` empties them before each test.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from starlette.types import ASGIApp

from metrics_broker.config import DEFAULT_DATABASES, Settings
from metrics_broker.main import create_app
from tests.metrics_broker.influx import InfluxReader
from tests.qa_api.e2e.qa_api_process import LiveQaApi, running_qa_api
from tests.servers import fresh_database, influxdb_server, migrate

BASE_URL = "http://metrics-broker.test"


@pytest.fixture(scope="session")
def influx_url() -> Iterator[str]:
    with influxdb_server() as url:
        yield url


@pytest.fixture(scope="session")
def database_url(postgres_url: str) -> Iterator[str]:
    """One database for qa_api and the broker's spool, each migrated by its own alembic."""
    with fresh_database(postgres_url, prefix="qahub_broker_test") as url:
        migrate(url)
        migrate(url, "metrics_broker")
        yield url


@pytest.fixture
def spool_database_url(postgres_url: str) -> Iterator[str]:
    """A spool of its own, for a test whose broker must not share (or drain) the session's."""
    with fresh_database(postgres_url, prefix="qahub_broker_spool") as url:
        migrate(url, "metrics_broker")
        yield url


@pytest.fixture(scope="session")
def qa_api(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveQaApi]:
    with running_qa_api(database_url, tmp_path_factory.mktemp("qa_api")) as server:
        yield server


@pytest.fixture(scope="session")
def databases() -> dict[str, str]:
    """This session's database per family."""
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    return {family: prefix + name for family, name in DEFAULT_DATABASES.items()}


@pytest.fixture(scope="session")
def settings(influx_url: str, qa_api: LiveQaApi, databases: dict[str, str], database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        influx_url=influx_url,
        api_url=qa_api.url,
        influx_databases=databases,
        max_body_bytes=256 * 1024,
        max_points_per_request=1000,
        # revocations are reloaded by the test that needs it
        revocation_refresh_seconds=3600,
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
    """The broker, with no token."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client:
        yield client


@pytest.fixture(scope="session")
async def identity(qa_api: LiveQaApi) -> AsyncIterator[httpx.AsyncClient]:
    """qa_api itself, for making users and tokens."""
    async with httpx.AsyncClient(base_url=qa_api.url, timeout=30, trust_env=False) as client:
        yield client


@pytest.fixture(scope="session")
async def admin_token(identity: httpx.AsyncClient, qa_api: LiveQaApi) -> str:
    login = await identity.post(
        "/api/v2/auth/login", json={"username": qa_api.admin_username, "password": qa_api.admin_password}
    )
    assert login.status_code == 200, login.text
    token: str = login.json()["access_token"]
    return token


async def api_token(identity: httpx.AsyncClient, admin_token: str, scopes: list[str]) -> str:
    """A QA Hub API token with these scopes, made through qa_api as CI would (`qahub token create`)."""
    created = await identity.post(
        "/api/v2/tokens",
        json={"name": f"broker-tests-{uuid.uuid4().hex[:6]}", "scopes": scopes},
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert created.status_code == 201, created.text
    token: str = created.json()["access_token"]
    return token


@pytest.fixture(scope="session")
async def metrics_token(identity: httpx.AsyncClient, admin_token: str) -> str:
    return await api_token(identity, admin_token, ["metrics:write"])


@pytest.fixture(scope="session")
async def broker(app: ASGIApp, metrics_token: str) -> AsyncIterator[httpx.AsyncClient]:
    """The broker, as a TF-A generator talks to it: `Authorization: JWT <metrics:write token>`."""
    headers = {"Authorization": f"JWT {metrics_token}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers) as client:
        yield client


@pytest.fixture(scope="session")
async def session_reader(influx_url: str, databases: dict[str, str]) -> AsyncIterator[InfluxReader]:
    reader = InfluxReader(influx_url)
    yield reader
    for name in databases.values():
        await reader.execute(f'DROP DATABASE "{name}"')
    await reader.aclose()


@pytest.fixture
async def reader(session_reader: InfluxReader, databases: dict[str, str]) -> InfluxReader:
    """InfluxDB, read directly; this session's databases are dropped first (the broker creates them again
    when InfluxDB tells it they are gone)."""
    for name in databases.values():
        await session_reader.execute(f'DROP DATABASE "{name}"')
    return session_reader


# TF-A's generator samples, copied into the repository (see fixtures/README.md)
FIXTURES = Path(__file__).parent / "fixtures"


def tfa_fixture(name: str) -> dict[str, Any]:
    """A sample payload exactly as TF-A's generator sends it (`tests/metrics_broker/fixtures/`)."""
    payload: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return payload


@pytest.fixture
async def custom_database(session_reader: InfluxReader) -> AsyncIterator[str]:
    """A database name for a custom kind of this test, dropped after it."""
    name = f"t{uuid.uuid4().hex[:8]}_Custom"
    yield name
    await session_reader.execute(f'DROP DATABASE "{name}"')
