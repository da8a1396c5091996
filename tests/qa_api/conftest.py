"""qa_api under test: a migrated database, the app in-process, and a clean slate for every test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.types import ASGIApp

from qa_api.config import Settings
from qa_api.main import create_app
from tests.servers import fresh_database, migrate

TABLES = "project, commit, commit_ref, batch, batch_change, test_input, output, milestone"


@pytest.fixture(scope="session")
def database_url(postgres_url: str) -> Iterator[str]:
    with fresh_database(postgres_url) as url:
        migrate(url)
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, max_body_bytes=1024 * 1024)


@pytest.fixture(scope="session")
def application(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture(scope="session")
async def app(application: FastAPI) -> AsyncIterator[ASGIApp]:
    async with LifespanManager(application) as manager:
        yield manager.app


@pytest.fixture(scope="session")
async def session_client(app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://qa-api.test") as client:
        yield client


@pytest.fixture
async def client(
    session_client: httpx.AsyncClient, settings: Settings, application: FastAPI
) -> httpx.AsyncClient:
    """The API client, on an empty database."""
    engine = create_async_engine(settings.database_url)
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    await engine.dispose()
    # ids restart with the tables: what the app remembers of the previous test's rows is wrong now
    application.state.known_rows.forget_all()
    return session_client
