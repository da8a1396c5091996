"""The qa_api application: `create_app(settings)` builds it; nothing is built at import time."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

from fastapi import FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from qa_api import db
from qa_api.commits.router import router as commits_router
from qa_api.compare.router import router as compare_router
from qa_api.config import Settings
from qa_api.gate.router import router as gate_router
from qa_api.git.router import router as git_router
from qa_api.identity.router import router as identity_router
from qa_api.identity.setup import Identity, build_identity, signing_keys, start_bootstrap
from qa_api.links.router import router as links_router
from qa_api.outputs.known import KnownRows
from qa_api.outputs.router import router as outputs_router
from qa_api.projects.router import router as projects_router
from qa_api.v1.router import router as v1_router
from qahub_shared.auth.dependencies import Authenticator
from qahub_shared.database import ping
from qahub_shared.docs import install_docs
from qahub_shared.errors import ERROR_RESPONSES, install_error_handlers
from qahub_shared.health import health_router
from qahub_shared.http import install_middleware


class State(TypedDict):
    """What the lifespan makes available to requests as `request.state.<key>`."""

    settings: Settings
    engine: AsyncEngine
    sessions: db.SessionFactory
    identity: Identity
    authenticator: Authenticator
    database: db.Database


DESCRIPTION = """
Run metadata for QA Hub: projects → commits → batches → outputs, their metrics, and comparisons.

* `/api/v1/...` is wire-compatible with the QA-Board backend used by the `qa` CLI (`pip install qaboard`).
* `/api/v2/...` is the typed read API: cursor pagination, filters, aggregates computed in SQL.
* Identity: logins, users and scoped API tokens (`/api/v2/auth`, `/api/v2/users`, `/api/v2/tokens`);
  `/.well-known/jwks.json` publishes the keys every QA Hub service verifies tokens with.

Writes need a token with `runs:write` on the project (`Authorization: Bearer <token>`; the `qa` CLI
sends `$QA_TOKEN`). Reads need `runs:read` unless the server runs with open reads (the dev default).

Every error has the same JSON envelope: `{"error": {"code", "message", "details", "request_id"}}`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        keys = await signing_keys(settings)
        engine = db.create_engine(
            settings.database_url,
            pool_size=settings.database_pool_size,
            statement_timeout_ms=settings.database_statement_timeout_ms,
        )
        sessions = db.session_factory(engine)
        identity = build_identity(settings, keys, sessions)
        bootstrap: asyncio.Task[None] | None = None
        try:
            bootstrap = await start_bootstrap(settings, sessions)
            async with identity.revocations.running():
                # Everything built so far lives as long as the process: keep the collector from walking
                # it again and again (its full passes were the p99 of reads).
                gc.collect()
                gc.freeze()
                yield State(
                    settings=settings,
                    engine=engine,
                    sessions=sessions,
                    identity=identity,
                    authenticator=identity.authenticator,
                    database=db.Database(engine=engine, sessions=sessions),
                )
        finally:
            if bootstrap is not None:
                bootstrap.cancel()
            await engine.dispose()

    app = FastAPI(
        title="QA Hub qa_api",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    install_docs(app)
    install_error_handlers(app)
    db.install_database_error_handlers(app)
    # ids of existing rows, remembered across requests by the write path of runs
    app.state.known_rows = KnownRows()
    install_middleware(app, settings)

    async def database_ready(request: Request) -> None:
        await ping(request.state.engine)

    app.include_router(health_router({"database": database_ready}))
    app.include_router(identity_router)
    app.include_router(v1_router)
    app.include_router(projects_router)
    app.include_router(commits_router)
    app.include_router(compare_router)
    app.include_router(gate_router)
    app.include_router(outputs_router)
    app.include_router(git_router)
    # last: it serves any `GET .../commit/<x>` no route above serves (the `qa` CLI's web links)
    app.include_router(links_router)
    return app
