"""The service around the API: probes, settings, request ids, migrations, OpenAPI."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import ValidationError

from qa_api.config import Settings
from qa_api.main import create_app
from tests.servers import ROOT


async def test_probes_report_alive_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ok"}


async def test_readiness_fails_with_503_when_the_database_is_unreachable() -> None:
    # port 9 (discard) on loopback: nothing listens, the connection is refused at once
    app = create_app(Settings(database_url="postgresql://postgres@127.0.0.1:9/none"))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://qa-api.test") as client:
            alive = await client.get("/healthz")
            ready = await client.get("/readyz")
            read = await client.get("/api/v2/projects")

    assert alive.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["error"]["code"] == "service_unavailable"
    assert ready.headers["retry-after"] == "5"
    assert read.status_code == 503
    assert read.json()["error"]["code"] == "service_unavailable"


async def test_a_sane_caller_request_id_is_echoed_and_others_are_replaced(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/healthz", headers={"x-request-id": "ci-job-42"})
    replaced = await client.get("/healthz", headers={"x-request-id": "bad id\twith tab"})

    assert echoed.headers["x-request-id"] == "ci-job-42"
    assert replaced.headers["x-request-id"] != "bad id\twith tab"
    assert len(replaced.headers["x-request-id"]) == 16


def test_production_mode_refuses_the_development_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QAHUB_ENV", "production")
    monkeypatch.delenv("QAHUB_DATABASE_URL", raising=False)

    with pytest.raises(ValidationError, match="QAHUB_DATABASE_URL"):
        Settings(_env_file=None)


def test_settings_come_from_qahub_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QAHUB_DATABASE_URL", "postgresql://qa:pw@db.internal:5433/qa")
    monkeypatch.setenv("QAHUB_QA_API_PORT", "6000")
    monkeypatch.setenv("QAHUB_MAX_BODY_BYTES", "2048")

    settings = Settings(_env_file=None)

    assert settings.database_url == "postgresql+asyncpg://qa:pw@db.internal:5433/qa"
    assert (settings.qa_api_port, settings.max_body_bytes) == (6000, 2048)


def test_a_non_postgresql_database_url_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QAHUB_DATABASE_URL", "mysql://root@localhost/qa")

    with pytest.raises(ValidationError, match="PostgreSQL URL"):
        Settings(_env_file=None)


def test_the_migrations_create_exactly_the_tables_the_code_uses(database_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "check"],
        cwd=ROOT / "services/qa_api",
        env={"QAHUB_DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "No new upgrade operations detected" in result.stdout + result.stderr


async def test_the_openapi_document_describes_both_apis_and_the_error_envelope(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()

    assert "/api/v1/output/" in spec["paths"]
    assert "/api/v2/commits" in spec["paths"]
    assert "ErrorEnvelope" in spec["components"]["schemas"]
    commits = spec["paths"]["/api/v2/commits"]["get"]
    assert commits["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ErrorEnvelope"
    )
    assert (await client.get("/docs")).status_code == 200


async def test_the_openapi_document_describes_the_body_and_token_of_the_cli_write(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()

    report = spec["paths"]["/api/v1/output/"]["post"]
    schema = report["requestBody"]["content"]["application/json"]["schema"]
    assert {"project", "database"} <= set(schema["required"])
    assert {"commit_sha", "input_path", "metrics", "is_pending"} <= set(schema["properties"])
    assert report["security"] == [{"token": []}]
    assert "token" in spec["components"]["securitySchemes"]
    assert report["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("V1Output")
