"""`POST /` (TF-A's generators, unchanged) and `GET /schemas/{kind}`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from metrics_broker.config import Settings
from metrics_broker.deps import RegistryDep, SettingsDep
from metrics_broker.kinds.service import KindRegistry, authorize
from metrics_broker.points.service import Acceptance, PointsService
from metrics_broker.tfa.json_schema import json_schema
from metrics_broker.tfa.kinds import KINDS
from metrics_broker.tfa.validation import (
    OFFLOAD_BYTES,
    Accepted,
    kind_named,
    kind_names,
    parse_json,
    validate,
)
from qahub_shared.auth.dependencies import MaybeCaller, current_principal, principal_of
from qahub_shared.auth.principal import Principal, Scope
from qahub_shared.auth.tokens import unauthorized
from qahub_shared.bodies import raw_body
from qahub_shared.errors import ERROR_RESPONSES, NotFound

router = APIRouter(tags=["tfa"])


@dataclass(frozen=True, slots=True)
class Payload:
    accepted: Accepted
    acceptance: Acceptance


async def tfa_payload(
    request: Request, caller: Principal, settings: Settings, registry: KindRegistry, points: PointsService
) -> Payload:
    """The body, checked: the token first (no work for strangers), then the JSON, whether this token may
    write the kind it names, then the kind's rules."""
    caller.require(Scope.METRICS_WRITE)
    body = await raw_body(request)
    large = len(body) > OFFLOAD_BYTES
    payload = await run_in_threadpool(parse_json, body) if large else parse_json(body)
    name = kind_named(payload)
    kinds = await registry.kinds(name)
    if name is not None and name in kinds:
        authorize(caller, kinds[name])
    # fixed once: every point without `time` gets it, and a retry of this payload gets it again
    acceptance = await points.accept(sender=caller.subject, body=body)

    def check() -> Accepted:
        return validate(
            payload,
            kinds=kinds,
            max_points=settings.max_points_per_request,
            accepted_at_ns=acceptance.accepted_at_ns,
        )

    try:
        accepted = await run_in_threadpool(check) if large else check()
    except BaseException:
        await points.abandon(acceptance)
        raise
    return Payload(accepted, acceptance)


@router.post(
    "/",
    status_code=204,
    summary="Store a TF-A metrics payload",
    responses={
        **ERROR_RESPONSES,
        422: {**ERROR_RESPONSES[422], "description": "Invalid payload, or points InfluxDB rejected"},
        503: {**ERROR_RESPONSES[503], "description": "InfluxDB is unavailable: nothing stored, retry"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "object", "description": "The kind's schema: GET /schemas/{kind}."}
                }
            },
        },
        "security": [{"token": []}],
    },
)
async def store_payload(request: Request) -> Response:
    """`{"api_version": "1.0", "metadata": {"metrics": "<kind>"}, "data": [points]}` with
    `Authorization: JWT <token>` (or `Bearer`) holding `metrics:write`. 204 once InfluxDB has
    acknowledged every point, or, while InfluxDB cannot take them, once they are in the durable spool
    (`X-Stored-In: influxdb` or `spool`); each kind's rules are at `GET /schemas/{kind}`."""
    # the request itself, no dependencies: FastAPI's solving them was a third of the CPU per payload
    state = request.state
    caller = await current_principal(await principal_of(request))
    settings: Settings = state.settings
    points: PointsService = state.points
    payload = await tfa_payload(request, caller, settings, state.registry, points)
    stored = await points.write(
        state.writer,
        databases=settings.influx_databases,
        accepted=payload.accepted,
        acceptance=payload.acceptance,
    )
    return Response(status_code=204, headers={"X-Stored-In": stored.value})


KindPath = Annotated[
    str,
    Path(description=f"One of {', '.join(KINDS)}, or a custom kind.", examples=["tfa_code_churn"]),
]


@router.get(
    "/schemas/{kind}",
    summary="The JSON Schema of a kind",
    responses={401: ERROR_RESPONSES[401], 403: ERROR_RESPONSES[403], 404: ERROR_RESPONSES[404]},
)
async def kind_schema(
    kind: KindPath, caller: MaybeCaller, settings: SettingsDep, registry: RegistryDep
) -> dict[str, Any]:
    """The rules of `POST /` for this kind, as a JSON Schema (draft 2020-12). TF-A's kinds are public;
    a custom kind's schema is for tokens that may list kinds (`metrics:write`), as `GET /api/v1/kinds`."""
    kinds = await registry.kinds(kind)
    found = kinds.get(kind)
    if caller is None:
        # a custom kind's rules, and the list of custom kinds, are not for strangers
        if found is None:
            raise NotFound(f"No kind {kind[:64]!r}; TF-A's kinds are {kind_names(KINDS)}.")
        if kind not in KINDS:
            raise unauthorized(
                f"{kind[:64]!r} is a custom kind: its schema needs a token (send 'Authorization: Bearer "
                "<token>')."
            )
    elif kind not in KINDS:
        caller.require(Scope.METRICS_WRITE)
    if found is None:
        raise NotFound(f"No kind {kind[:64]!r}; the kinds are {kind_names(kinds)}.")
    return json_schema(found, max_points=settings.max_points_per_request)


tfa_ingest_route = next(
    route for route in router.routes if isinstance(route, APIRoute) and route.endpoint is store_payload
)
"""`POST /`, served by `qahub_shared.http.DirectRoute` (see `main.create_app`)."""
