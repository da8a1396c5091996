"""The middleware every service installs, on a tiny app: a bug's 500 carries the request id it logs; past
the concurrency cap, a 503; both forms of a path, with and without its trailing slash, are served."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import httpx
import pytest
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.routing import APIRoute

from qahub_shared.bodies import raw_body
from qahub_shared.errors import InvalidInput, install_error_handlers
from qahub_shared.http import (
    ConcurrencyLimitMiddleware,
    DirectRoute,
    RequestContextMiddleware,
    serve_both_slash_forms,
)
from tests.processes import free_port


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


async def test_requests_past_the_concurrency_cap_get_a_503_and_the_liveness_probe_is_still_answered() -> None:
    release, both_inside = asyncio.Event(), asyncio.Event()
    inside = 0
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(ConcurrencyLimitMiddleware, max_requests=2, body_timeout_seconds=30)
    app.add_middleware(RequestContextMiddleware)

    @app.get("/slow")
    async def slow() -> dict[str, bool]:
        nonlocal inside
        inside += 1
        if inside == 2:
            both_inside.set()
        await release.wait()
        return {"done": True}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as client:
        held = [asyncio.create_task(client.get("/slow")) for _ in range(2)]
        await both_inside.wait()
        refused = await client.get("/slow")
        alive = await client.get("/healthz")
        release.set()
        answered = await asyncio.gather(*held)
        after = await client.get("/slow")

    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["code"] == "service_unavailable"
    assert alive.status_code == 200
    assert [response.status_code for response in answered] == [200, 200]
    assert after.status_code == 200


async def test_a_body_trickling_in_past_the_deadline_gets_a_408_and_gives_its_place_back() -> None:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(ConcurrencyLimitMiddleware, max_requests=1, body_timeout_seconds=0.5)
    app.add_middleware(RequestContextMiddleware)

    @app.post("/size")
    async def size(request: Request) -> dict[str, int]:
        return {"size": len(await raw_body(request))}

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:  # noqa: ASYNC110  (uvicorn sets a flag, no event)
            await asyncio.sleep(0.01)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        # 10 of the 100 bytes announced, and then nothing
        writer.write(b"POST /size HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 30)  # the server answers and closes
        writer.close()
        # the only place is free again
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False) as client:
            after = await client.post("/size", content=b"y" * 100)
    finally:
        server.should_exit = True
        await serving

    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 408 Request Timeout"
    assert b'"code":"request_timeout"' in rest
    assert (after.status_code, after.json()) == (200, {"size": 100})


def _direct_app() -> FastAPI:
    """An app whose `POST /` is served by `DirectRoute` only: FastAPI itself does not know the route."""
    elsewhere = APIRouter()

    @elsewhere.post("/")
    async def ingest(request: Request) -> Response:
        if await raw_body(request) == b"bad":
            raise InvalidInput("body: bad")
        return Response(status_code=204, headers={"X-Served": "direct"})

    [route] = [route for route in elsewhere.routes if isinstance(route, APIRoute)]
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(DirectRoute, route=route, handlers=app.exception_handlers)
    app.add_middleware(RequestContextMiddleware)
    return app


async def test_a_direct_route_is_served_below_the_middleware_with_its_errors_and_behind_a_root_path() -> None:
    app = _direct_app()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://app.test"
    ) as client:
        served = await client.post("/", content=b"ok")
        refused = await client.post("/", content=b"bad")
        other = await client.get("/")
    mounted = httpx.ASGITransport(app=app, root_path="/broker")
    async with httpx.AsyncClient(transport=mounted, base_url="http://app.test") as client:
        behind_proxy = await client.post("/broker/", content=b"ok")

    assert (served.status_code, served.headers["x-served"]) == (204, "direct")
    assert "x-request-id" in served.headers  # below the service's own middleware
    assert refused.status_code == 422
    assert refused.json()["error"] | {"request_id": None} == {
        "code": "invalid_input",
        "message": "body: bad",
        "details": [],
        "request_id": None,
    }
    assert other.status_code == 404  # another method goes to FastAPI, which does not know the route
    assert (behind_proxy.status_code, behind_proxy.headers.get("x-served")) == (204, "direct")


async def _token() -> str:
    return "t"


def test_a_direct_route_refuses_a_route_with_dependencies() -> None:
    router = APIRouter()

    @router.post("/")
    async def ingest(caller: Annotated[str, Depends(_token)]) -> None:
        return None

    [route] = [route for route in router.routes if isinstance(route, APIRoute)]
    with pytest.raises(ValueError, match="without dependencies"):
        DirectRoute(FastAPI(), route=route, handlers={})


async def test_both_forms_of_a_path_are_served_in_place_behind_a_root_path_too() -> None:
    app = FastAPI()
    install_error_handlers(app)
    serve_both_slash_forms(app)

    @app.post("/items")
    async def create() -> dict[str, str]:
        return {"served": "items"}

    @app.get("/folder/")
    async def folder() -> dict[str, str]:
        return {"served": "folder"}

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://app.test"
    ) as client:
        added = await client.post("/items/")
        removed = await client.get("/folder")
        wrong_method = await client.get("/items/")
        nowhere = await client.get("/nowhere/")
    mounted = httpx.ASGITransport(app=app, root_path="/svc")
    async with httpx.AsyncClient(transport=mounted, base_url="http://app.test") as client:
        behind_proxy = await client.post("/svc/items/")

    assert (added.status_code, added.json()) == (200, {"served": "items"})
    assert (removed.status_code, removed.json()) == (200, {"served": "folder"})
    assert (behind_proxy.status_code, behind_proxy.json()) == (200, {"served": "items"})
    assert wrong_method.status_code == 405
    assert (nowhere.status_code, nowhere.json()["error"]["code"]) == (404, "not_found")
