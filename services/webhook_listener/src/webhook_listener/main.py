"""The webhook listener application: `create_app(settings)` builds it; nothing is built at import time."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

import httpx
from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncEngine

from qahub_shared.auth.dependencies import Authenticator
from qahub_shared.auth.principal import Audience
from qahub_shared.auth.remote import RemoteKeySet, fetch_revocations
from qahub_shared.auth.revocations import RevocationList
from qahub_shared.auth.tokens import TokenVerifier
from qahub_shared.database import install_unreachable_handler, ping
from qahub_shared.docs import install_docs
from qahub_shared.errors import ERROR_RESPONSES, install_error_handlers
from qahub_shared.health import health_router
from qahub_shared.http import install_middleware
from webhook_listener import db
from webhook_listener.config import Settings
from webhook_listener.deliveries.router import admin as deliveries_router
from webhook_listener.deliveries.router import webhooks as webhooks_router
from webhook_listener.qa_api import QaApi
from webhook_listener.repositories.router import router as repositories_router
from webhook_listener.workers import Workers

HTTP_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


class State(TypedDict):
    """What the lifespan makes available to requests as `request.state.<key>`."""

    settings: Settings
    engine: AsyncEngine
    authenticator: Authenticator
    workers: Workers
    acknowledging: asyncio.Semaphore
    """Acknowledgements using a database connection at once: what the pool keeps open beyond the
    workers' share, so that a burst waits a moment for a pooled connection instead of opening (and
    closing) one of its own per request, which cost the acknowledgements' tail more than the wait."""


DESCRIPTION = """
Receives GitLab and GitHub push webhooks and keeps qa_api's commits, branches and tags exactly as git has
them, read from a bare mirror of each registered repository.

* `POST /webhooks/gitlab` (`X-Gitlab-Token`) and `POST /webhooks/github` (`X-Hub-Signature-256`): a
  verified delivery is stored and answered 202; workers process it in the background.
* `/api/v2/repositories`, `/api/v2/deliveries`, `/api/v2/reconcile`: the admin API (`admin` scope).

Every error has the same JSON envelope: `{"error": {"code", "message", "details", "request_id"}}`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        engine = db.create_engine(
            settings.listener_database_url,
            pool_size=settings.database_pool_size,
            statement_timeout_ms=settings.database_statement_timeout_ms,
        )
        # one pooled client per process: the issuer's keys and revocations, and the git updates
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT, trust_env=False) as client:
            keys = RemoteKeySet(client, f"{settings.api_url}/.well-known/jwks.json")
            verifier = TokenVerifier(keys, issuer=settings.jwt_issuer, audience=Audience.WEBHOOK_LISTENER)
            revocations = RevocationList(
                lambda: fetch_revocations(client, f"{settings.api_url}/api/v2/auth/revocations"),
                interval_seconds=settings.revocation_refresh_seconds,
            )
            qa_api = QaApi(client, settings.api_url, settings.webhook_qa_api_token)
            workers = Workers(settings, engine, qa_api)
            try:
                async with revocations.running(), workers.running():
                    # what was built so far lives as long as the process: keep the collector from
                    # walking it again and again (its full passes lengthen the acknowledgements' tail)
                    gc.collect()
                    gc.freeze()
                    yield State(
                        settings=settings,
                        engine=engine,
                        authenticator=Authenticator(verifier, revocations),
                        workers=workers,
                        acknowledging=asyncio.Semaphore(
                            max(settings.database_pool_size - 2 * settings.webhook_workers, 4)
                        ),
                    )
            finally:
                await engine.dispose()

    app = FastAPI(
        title="QA Hub webhook listener",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    install_docs(app)
    install_error_handlers(app)
    install_unreachable_handler(app)
    # the two webhook routes, the hot ones, are served below our middleware and above FastAPI's machinery
    hot = [route for route in webhooks_router.routes if isinstance(route, APIRoute)]
    install_middleware(app, settings, direct=hot)

    async def database_ready(request: Request) -> None:
        await ping(request.state.engine)

    app.include_router(health_router({"database": database_ready}))
    app.include_router(webhooks_router)
    app.include_router(repositories_router)
    app.include_router(deliveries_router)
    return app
