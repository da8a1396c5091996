"""`POST /api/v1/points`: a large batch of points of one registered kind, with `Idempotency-Key`."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from starlette.concurrency import run_in_threadpool

from metrics_broker.deps import PointsDep, RegistryDep, SettingsDep, WriterDep
from metrics_broker.kinds.service import authorize
from metrics_broker.points.schemas import PointsBatch, PointsStored, inline_schema
from metrics_broker.points.service import checked_key
from metrics_broker.tfa.service import database_of
from metrics_broker.tfa.validation import OFFLOAD_BYTES, Accepted, kind_named, parse_json, validate_points
from qahub_shared.auth.dependencies import Caller
from qahub_shared.auth.principal import Scope
from qahub_shared.bodies import raw_body
from qahub_shared.errors import ERROR_RESPONSES

router = APIRouter(prefix="/api/v1", tags=["points"])


@router.post(
    "/points",
    summary="Store a batch of points of one kind",
    response_model=PointsStored,
    responses={
        **ERROR_RESPONSES,
        409: {**ERROR_RESPONSES[422], "description": "A request with this Idempotency-Key is running"},
        422: {
            **ERROR_RESPONSES[422],
            "description": "Invalid batch, points InfluxDB rejected, or an Idempotency-Key used for "
            "another body (`idempotency_key_reused`)",
        },
        503: {**ERROR_RESPONSES[503], "description": "Nowhere to store the points: nothing stored, retry"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline_schema(PointsBatch)}},
        }
    },
)
async def store_points(
    request: Request,
    caller: Caller,
    settings: SettingsDep,
    registry: RegistryDep,
    writer: WriterDep,
    points: PointsDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Any unique string (a UUID): a retry with the same key and body is answered the "
            "first answer, without writing again.",
        ),
    ] = None,
) -> Response:
    """`{"kind": "<kind>", "points": [{"measurement", "tags", "fields", "time"}...]}`, at most
    `QAHUB_MAX_POINTS_PER_REQUEST` points, each checked as a point of `POST /` is. 200 once every point is
    in InfluxDB or in the durable spool (`stored_in`, and `X-Stored-In`)."""
    caller.require(Scope.METRICS_WRITE)
    key = checked_key(idempotency_key)
    body = await raw_body(request)
    large = len(body) > OFFLOAD_BYTES
    payload = await run_in_threadpool(parse_json, body) if large else parse_json(body)
    name = kind_named(payload, "kind")
    kinds = await registry.kinds(name)
    if name is not None and name in kinds:
        authorize(caller, kinds[name])
    acceptance = await points.accept(sender=caller.subject, body=body, key=key)

    def check() -> Accepted:
        return validate_points(
            payload,
            kinds=kinds,
            max_points=settings.max_points_per_request,
            accepted_at_ns=acceptance.accepted_at_ns,
        )

    try:
        # a retry is checked as a new request would be before it gets the first answer
        accepted = await run_in_threadpool(check) if large else check()
    except BaseException:
        await points.abandon(acceptance)
        raise
    if acceptance.replay is not None:
        answer, replayed = acceptance.replay, True
    else:
        stored = await points.write(
            writer, databases=settings.influx_databases, accepted=accepted, acceptance=acceptance
        )
        answer = PointsStored(
            kind=accepted.kind.name,
            database=database_of(accepted, settings.influx_databases),
            points=len(accepted.points),
            stored_in=stored,
        ).model_dump_json()
        replayed = False
        await points.complete(acceptance, answer)
    headers = {"X-Stored-In": str(json.loads(answer)["stored_in"])}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(answer, media_type="application/json", headers=headers)
