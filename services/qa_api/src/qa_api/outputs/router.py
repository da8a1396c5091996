"""`/api/v2/outputs` and a batch's outputs: the typed read API for runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from qa_api.deps import ReadAccess, SessionDep
from qa_api.models import OutputStatus
from qa_api.outputs import service
from qa_api.outputs.schemas import OutputPublic
from qa_api.params import DEFAULT_LIMIT, Cursor, Limit, id_cursor
from qahub_shared.schemas.pagination import Page, encode_cursor

router = APIRouter(prefix="/api/v2", tags=["outputs"])

Id = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get("/batches/{batch_id}/outputs", summary="List a batch's outputs")
async def list_outputs(
    batch_id: Id,
    access: ReadAccess,
    session: SessionDep,
    status: Annotated[OutputStatus | None, Query(description="Only outputs in this status.")] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[OutputPublic]:
    if access.principal is not None:
        access.check(await service.project_of_batch(session, batch_id))
    found = await service.page_of_outputs(
        session, batch_id, after=id_cursor(cursor), limit=limit + 1, status=status
    )
    items = [OutputPublic.of(row) for row in found[:limit]]
    next_cursor = encode_cursor({"id": items[-1].id}) if len(found) > limit else None
    return Page[OutputPublic](items=items, next_cursor=next_cursor)


@router.get("/outputs/{output_id}", summary="Get an output")
async def get_output(output_id: Id, access: ReadAccess, session: SessionDep) -> OutputPublic:
    if access.principal is not None:
        access.check(await service.project_of_output(session, output_id))
    return OutputPublic.of(await service.get_output(session, output_id))
