"""`/api/v1/kinds`: custom kinds, registered and deleted by an admin."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from metrics_broker.deps import RegistryDep
from metrics_broker.kinds.schemas import KindCreate, KindList, KindPublic
from metrics_broker.tfa.kinds import KINDS
from qahub_shared.auth.dependencies import Caller
from qahub_shared.auth.principal import Scope
from qahub_shared.errors import ERROR_RESPONSES

router = APIRouter(prefix="/api/v1/kinds", tags=["kinds"])

KindName = Annotated[str, Path(max_length=64, examples=["perf_latency"])]


@router.post(
    "",
    status_code=201,
    summary="Register a custom kind (admin)",
    responses={**ERROR_RESPONSES, 409: {**ERROR_RESPONSES[422], "description": "The name is taken"}},
)
async def create_kind(body: KindCreate, caller: Caller, registry: RegistryDep) -> KindPublic:
    """A new kind that payloads may then name (`POST /` with `metadata.metrics`, or `POST /api/v1/points`
    with `kind`). Its name is lowercase (`[a-z][a-z0-9_]{1,63}`) and not TF-A's; its database is not one
    of TF-A's, and is created on first write. 409 when the name is taken. An admin token restricted to
    projects registers kinds only in those projects."""
    caller.require(Scope.ADMIN, body.project)
    return await registry.create(body, created_by=caller.subject)


@router.get("", summary="The kinds: TF-A's and the custom ones", responses=ERROR_RESPONSES)
async def list_kinds(caller: Caller, registry: RegistryDep) -> KindList:
    caller.require(Scope.METRICS_WRITE)
    return KindList(builtin=list(KINDS), custom=await registry.list())


@router.get("/{name}", summary="A custom kind", responses=ERROR_RESPONSES)
async def get_kind(name: KindName, caller: Caller, registry: RegistryDep) -> KindPublic:
    caller.require(Scope.METRICS_WRITE)
    return await registry.get(name)


@router.delete(
    "/{name}",
    status_code=204,
    response_class=Response,
    summary="Delete a custom kind (admin); its points stay in InfluxDB",
    responses=ERROR_RESPONSES,
)
async def delete_kind(name: KindName, caller: Caller, registry: RegistryDep) -> Response:
    """New payloads of this kind are refused from then on; what InfluxDB (or the spool) holds stays.
    TF-A's kinds cannot be deleted (409). An admin token restricted to projects deletes only the kinds
    of those projects."""
    caller.require(Scope.ADMIN)
    await registry.delete(name, check_project=lambda project: caller.require(Scope.ADMIN, project))
    return Response(status_code=204)
