"""ASGI middleware every service installs: request ids and access logs, and caps on body size and on
requests in flight."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qahub_shared.docs import ASSETS_PREFIX
from qahub_shared.errors import PayloadTooLarge, ServiceUnavailable, error_response, internal_error
from qahub_shared.logging import bind_request_id, reset_request_id
from qahub_shared.settings import CommonSettings

logger = logging.getLogger("qahub.access")

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_KEY = REQUEST_ID_HEADER.encode()
# A caller's id is echoed only when it is short and plain, so it cannot forge log lines.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


POLLED_PATHS = frozenset({"/api/v2/auth/revocations", "/.well-known/jwks.json"})
"""What QA Hub's services poll each other for (every `QAHUB_REVOCATION_REFRESH_SECONDS`, and the keys
now and then): answered, they are logged at DEBUG, so that an idle deployment logs nothing periodic at
INFO; refused or failed, at INFO as any other request."""


class RequestContextMiddleware:
    """Gives each request an id (the caller's `X-Request-ID` when sane), echoes it, logs the request
    (at INFO; the polls of `POLLED_PATHS` that succeed at DEBUG)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for name, value in scope["headers"]:
            if name == _REQUEST_ID_KEY:
                incoming = value.decode("latin-1")
                break
        # 16 random hex digits, as `uuid4().hex[:16]` gave, for a quarter of its cost
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else os.urandom(8).hex()
        token = bind_request_id(request_id)
        started = time.perf_counter()
        status = 500
        responded = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status, responded = message["status"], True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (_REQUEST_ID_KEY, request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if responded:
                raise
            # a bug: the 500 envelope is sent here, while the request id is still bound, so that the
            # client gets the id its message points to (Starlette's outer handler runs after it is gone)
            response = internal_error(scope["method"], scope["path"], exc)
            await response(scope, receive, send_with_id)
        finally:
            quiet = status < 400 and _route_path(scope) in POLLED_PATHS
            logger.log(
                logging.DEBUG if quiet else logging.INFO,
                "%s %s %d %.1fms",
                scope["method"],
                scope["path"],
                status,
                (time.perf_counter() - started) * 1000,
            )
            reset_request_id(token)


class BodySizeLimitMiddleware:
    """Refuses bodies over `max_bytes` with 413, whether announced by Content-Length or streamed."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
                break
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            response = error_response(413, PayloadTooLarge.code, self._message())
            await response(scope, receive, send)
            return
        if declared is not None:
            # The HTTP server reads no more than the declared length (uvicorn refuses a body that
            # disagrees with it): nothing left to count.
            await self.app(scope, receive, send)
            return

        received = 0
        refused = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Answer 413 now; to the app, the client is gone and what it sends is dropped.
                    refused = True
                    response = error_response(413, PayloadTooLarge.code, self._message())
                    await response(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counting_receive, guarded_send)

    def _message(self) -> str:
        return f"The request body exceeds the limit of {self.max_bytes} bytes."


class ConcurrencyLimitMiddleware:
    """At most `max_requests` requests in the service at once; past that, an immediate 503 with
    `Retry-After: 1`, so a flood costs memory for `max_requests` bodies, not for every client connected.
    A request whose body has not fully arrived `body_timeout_seconds` after it started gets a 408 and
    gives its place back: clients trickling bodies cannot hold every place. The liveness probe, the
    metrics (`exempt`) and the documentation pages' static assets (`exempt_prefixes`) are always
    answered, below the `root_path` a proxy mounts the service under too."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_requests: int,
        body_timeout_seconds: float,
        exempt: frozenset[str] = frozenset({"/healthz", "/metrics"}),
        exempt_prefixes: tuple[str, ...] = (ASSETS_PREFIX,),
    ) -> None:
        self.app = app
        self.max_requests = max_requests
        self.body_timeout = body_timeout_seconds
        self.exempt = exempt
        self.exempt_prefixes = exempt_prefixes
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = _route_path(scope)
        if path in self.exempt or path.startswith(self.exempt_prefixes):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_requests:
            logger.warning("refused a request: %d requests in flight already", self.in_flight)
            response = error_response(
                503,
                ServiceUnavailable.code,
                f"The service is handling {self.max_requests} requests already; retry shortly.",
                headers={"Retry-After": "1"},
            )
            await response(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.body_timeout
        body_done = timed_out = responding = False

        async def timed_receive() -> Message:
            nonlocal body_done, timed_out
            if body_done or timed_out:
                return await receive() if body_done else {"type": "http.disconnect"}
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                if responding:  # the app answered already: to it, the client is gone; nothing more to send
                    return {"type": "http.disconnect"}
                timed_out = True
                response = error_response(
                    408,
                    "request_timeout",
                    f"The request body did not arrive within {self.body_timeout:g} seconds.",
                    headers={"Connection": "close"},
                )
                await response(scope, receive, send)
                # to the app, the client is gone
                return {"type": "http.disconnect"}
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal responding
            if not timed_out:
                responding = True
                await send(message)

        self.in_flight += 1
        try:
            await self.app(scope, timed_receive, guarded_send)
        finally:
            self.in_flight -= 1


def _route_path(scope: Scope) -> str:
    """The path the app routes on: without the `root_path` a proxy mounts it under (uvicorn puts it in
    front of `path`)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] or "/" if root and path.startswith(root) else path


class DirectRoute:
    """Serves one hot route of a FastAPI app straight from the ASGI scope: below the service's own
    middleware (request id, access log, counters, caps), above FastAPI's routing and middleware, which
    cost a small request a third of its CPU. The route stays declared in the app, so the OpenAPI document
    keeps it, and its endpoint must take the `Request` itself (no dependencies). An exception gets the
    answer of the app's own handler for it (`handlers`: the app's `exception_handlers`, as
    `install_error_handlers` and the services' database handlers filled them), found as Starlette finds
    it; without one it propagates to `RequestContextMiddleware`'s 500. What the route gives up: FastAPI's
    own OpenTelemetry names its span by method only (no `http.route`), and anything declared on the
    router or app for it (dependencies, a prefix) would be skipped: the route must be included as
    declared."""

    def __init__(self, app: ASGIApp, *, route: APIRoute, handlers: Mapping[Any, Callable[..., Any]]) -> None:
        if route.dependant.dependencies:
            raise ValueError(f"{route.path}: a direct route takes the request itself, without dependencies")
        self.app = app
        self.route = route
        self.path = route.path
        self.methods = frozenset(route.methods or ())
        self.endpoint: Callable[[Request], Awaitable[Response]] = route.endpoint
        self.handlers = handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _route_path(scope) != self.path or scope["method"] not in self.methods:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        request = Request(scope, receive, send)
        try:
            response = await self.endpoint(request)
        except Exception as exc:
            handler = next((self.handlers[k] for k in type(exc).__mro__ if k in self.handlers), None)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)


def serve_both_slash_forms(app: FastAPI) -> None:
    """Serve every path of `app` with and without its trailing slash, neither form redirecting.

    Starlette answers a path that matches no route, but would with its trailing slash added or removed,
    with a 307 to that twin: clients that do not follow redirects on a POST (TF-A's generators, `curl`
    without `-L`) then fail. Here the twin is served in place instead, and only when the path as sent
    matches nothing, so no route is shadowed and the OpenAPI document lists each path once."""
    router = app.router
    router.redirect_slashes = False

    async def serve_twin(scope: Scope, receive: Receive, send: Send) -> None:
        route_path = _route_path(scope)
        if scope["type"] == "http" and route_path not in ("", "/"):
            path: str = scope["path"]
            twin = {**scope, "path": path.rstrip("/") if route_path.endswith("/") else f"{path}/"}
            if any(route.matches(twin)[0] is not Match.NONE for route in router.routes):
                await router.app(twin, receive, send)
                return
        await router.not_found(scope, receive, send)

    router.default = serve_twin


def install_middleware(
    app: FastAPI,
    settings: CommonSettings,
    *,
    direct: Iterable[APIRoute] = (),
    observers: Sequence[Middleware] = (),
) -> None:
    """Every service's middleware, outermost first: the request id and access log, `observers` (which
    see every answer, the caps' included), the concurrency cap, the body size cap, and the `direct`
    routes (`DirectRoute`, with the app's exception handlers: install those first). Every path is
    served with and without its trailing slash (`serve_both_slash_forms`)."""
    serve_both_slash_forms(app)
    for route in direct:
        app.add_middleware(DirectRoute, route=route, handlers=app.exception_handlers)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        ConcurrencyLimitMiddleware,
        max_requests=settings.max_concurrent_requests,
        body_timeout_seconds=settings.body_timeout_seconds,
    )
    for observer in observers:
        app.add_middleware(observer.cls, *observer.args, **observer.kwargs)
    app.add_middleware(RequestContextMiddleware)
