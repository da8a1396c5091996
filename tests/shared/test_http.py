"""The middleware every service installs, on a tiny app: a bug's 500 carries the request id it logs."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI

from qahub_shared.errors import install_error_handlers
from qahub_shared.http import RequestContextMiddleware


def _app_with_a_bug() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware)

    @app.get("/bug")
    async def bug() -> None:
        raise RuntimeError("a bug")

    return app


async def test_a_bug_is_a_500_in_the_envelope_with_the_request_id_it_is_logged_under(
    caplog: pytest.LogCaptureFixture,
) -> None:
    transport = httpx.ASGITransport(app=_app_with_a_bug(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as client:
        with caplog.at_level(logging.ERROR):
            response = await client.get("/bug", headers={"X-Request-ID": "trace-me-42"})

    assert response.status_code == 500
    error = response.json()["error"]
    assert (error["code"], error["request_id"]) == ("internal_error", "trace-me-42")
    assert response.headers["x-request-id"] == "trace-me-42"
    (logged,) = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert logged.exc_info is not None
    assert "a bug" in str(logged.exc_info[1])
