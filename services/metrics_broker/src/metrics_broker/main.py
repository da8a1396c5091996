"""The metrics broker application: `create_app(settings)` builds it; nothing is built at import time."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

import httpx
from fastapi import FastAPI, Request
from starlette.middleware import Middleware

from metrics_broker.config import Settings
from metrics_broker.identity.router import router as identity_router
from metrics_broker.identity.service import IdentityIssuer
from metrics_broker.influx.client import InfluxDB, InfluxUnavailable
from metrics_broker.influx.databases import Databases
from metrics_broker.influx.writer import GroupCommitWriter, PointWriter
from metrics_broker.kinds.repository import KindRepository
from metrics_broker.kinds.router import router as kinds_router
from metrics_broker.kinds.service import KindRegistry
from metrics_broker.observability import Counters, RequestCounter
from metrics_broker.observability import router as metrics_router
from metrics_broker.points.repository import IdempotencyKeys
from metrics_broker.points.router import router as points_router
from metrics_broker.points.service import PointsService
from metrics_broker.spool.drainer import Drainer
from metrics_broker.spool.repository import Spool, create_engine
from metrics_broker.spool.router import router as spool_router
from metrics_broker.spool.writer import SpoolingWriter
from metrics_broker.tfa.router import router as tfa_router
from metrics_broker.tfa.router import tfa_ingest_route
from qahub_shared.auth.dependencies import Authenticator
from qahub_shared.auth.principal import Audience
from qahub_shared.auth.remote import RemoteKeySet, fetch_revocations
from qahub_shared.auth.revocations import RevocationList
from qahub_shared.auth.tokens import TokenVerifier
from qahub_shared.docs import install_docs
from qahub_shared.errors import ERROR_RESPONSES, install_error_handlers
from qahub_shared.health import health_router
from qahub_shared.http import install_middleware


class State(TypedDict):
    """What the lifespan makes available to requests as `request.state.<key>`."""

    settings: Settings
    http: httpx.AsyncClient
    influx: InfluxDB
    writer: PointWriter
    spool: Spool
    drainer: Drainer
    authenticator: Authenticator
    issuer: IdentityIssuer
    registry: KindRegistry
    points: PointsService


DESCRIPTION = """
Quality metrics into InfluxDB 1.x, wire-compatible with Trusted Firmware-A's broker and data generators.

* `POST /auth` `{"username", "password"}` → `{"access_token"}`: a QA Hub token scoped `metrics:write`.
* `POST /` with `Authorization: JWT <token>` (or `Bearer`): a TF-A payload, checked against its kind's
  schema (`GET /schemas/{kind}`); 204 once InfluxDB has stored every point or, while InfluxDB cannot take
  them, once they are in the durable spool (PostgreSQL), from which they are written later, in order.
  TF-A's kinds, or custom kinds an admin registered (`POST /api/v1/kinds`).
* `POST /api/v1/points` with `Idempotency-Key`: `{"kind", "points": [...]}`, larger batches of one kind;
  a retry with the same key and body gets the first answer, nothing written twice.
* A token restricted to projects (`team-a/*`) writes only the custom kinds of those projects; TF-A's kinds
  take any `metrics:write` token.

Every error has the same JSON envelope: `{"error": {"code", "message", "details", "request_id"}}`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    counters = Counters()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        # one pooled client to qa_api (keys, revocations, logins); InfluxDB has its own, aioinflux's
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0), trust_env=False) as http:
            influx = InfluxDB(
                settings.influx_url,
                timeout_seconds=settings.influx_write_timeout_seconds,
                username=settings.influx_username,
                password=settings.influx_password.get_secret_value() if settings.influx_password else None,
            )
            group_commit = GroupCommitWriter(
                influx,
                Databases(influx),
                linger_seconds=settings.group_commit_ms / 1000,
                max_points=settings.group_commit_max_points,
            )
            engine = create_engine(
                settings.database_url,
                pool_size=settings.database_pool_size,
                statement_timeout_ms=settings.database_statement_timeout_ms,
                connect_timeout_s=settings.spool_timeout_seconds,
            )
            spool = Spool(engine)
            drainer = Drainer(
                spool,
                group_commit,
                batch_size=settings.spool_batch_size,
                max_points=settings.group_commit_max_points,
                retry_min_seconds=settings.spool_retry_min_seconds,
                retry_max_seconds=settings.spool_retry_max_seconds,
            )
            revocations = RevocationList(
                lambda: fetch_revocations(http, f"{settings.api_url}/api/v2/auth/revocations"),
                interval_seconds=settings.revocation_refresh_seconds,
            )
            verifier = TokenVerifier(
                RemoteKeySet(http, f"{settings.api_url}/.well-known/jwks.json"),
                issuer=settings.jwt_issuer,
                audience=Audience.METRICS_BROKER,
            )
            try:
                await drainer.start(check_timeout_seconds=settings.spool_timeout_seconds)
                async with revocations.running():
                    # what is built so far lives as long as the process: keep the collector from
                    # walking it again and again (as qa_api does)
                    gc.collect()
                    gc.freeze()
                    yield State(
                        settings=settings,
                        http=http,
                        influx=influx,
                        writer=SpoolingWriter(group_commit, spool, drainer, counters),
                        spool=spool,
                        drainer=drainer,
                        authenticator=Authenticator(verifier, revocations),
                        issuer=IdentityIssuer(
                            http, settings.api_url, token_ttl_hours=settings.auth_token_ttl_hours
                        ),
                        registry=KindRegistry(
                            KindRepository(engine),
                            tfa_databases=settings.influx_databases,
                            refresh_seconds=settings.kinds_refresh_seconds,
                        ),
                        points=PointsService(
                            IdempotencyKeys(engine), keep_hours=settings.idempotency_key_hours
                        ),
                    )
            finally:
                # requests still in flight are answered from what is written now (or spooled)
                await group_commit.close()
                await drainer.stop()
                await engine.dispose()
                await influx.close()

    app = FastAPI(
        title="QA Hub metrics broker",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    install_docs(app)
    install_error_handlers(app)
    app.state.counters = counters
    # TF-A's `POST /`, the hot route, is served below our middleware and above FastAPI's machinery
    install_middleware(
        app, settings, direct=[tfa_ingest_route], observers=[Middleware(RequestCounter, counters=counters)]
    )

    async def storage_ready(request: Request) -> None:
        # ready when payloads can be stored: in InfluxDB, or in the spool while InfluxDB is down
        influx: InfluxDB = request.state.influx
        spool: Spool = request.state.spool
        try:
            await influx.ping()
        except InfluxUnavailable:
            await spool.stats()

    app.include_router(health_router({"storage (InfluxDB or the spool)": storage_ready}))
    app.include_router(metrics_router)
    app.include_router(identity_router)
    app.include_router(tfa_router)
    app.include_router(kinds_router)
    app.include_router(points_router)
    app.include_router(spool_router)
    return app
