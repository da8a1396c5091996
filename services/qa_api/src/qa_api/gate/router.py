"""`GET /api/v2/verdict`: the gate on a commit's batch, what `qahub gate` waits for in CI."""

from __future__ import annotations

from fastapi import APIRouter

from qa_api.compare.router import ComparedBatches
from qa_api.deps import ReadAccess, SessionDep
from qa_api.gate import service
from qa_api.gate.schemas import BatchVerdict

router = APIRouter(prefix="/api/v2", tags=["compare"])


@router.get(
    "/verdict",
    summary="Whether a commit's batch passes the gate against its reference",
    description="""
The batch is compared with its reference as `GET /api/v2/compare` does it (the same parameters choose
the reference and the metrics). `status` is `pending` while an output is queued or running, or while
the batch has no output yet; else `fail` when an output is worse: a metric worse beyond its tolerance,
or a run of the commit that failed where the reference's did not (a failed run of a new input too);
else `pass`. New outputs, reference inputs the batch did not run and runs that failed on both sides are
said in `reasons`, and do not fail the gate.
""",
)
async def verdict(compared: ComparedBatches, access: ReadAccess, session: SessionDep) -> BatchVerdict:
    return BatchVerdict.of(await service.verdict(session, compared, check_readable=access.check))
