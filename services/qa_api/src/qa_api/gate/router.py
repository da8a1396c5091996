"""`GET /api/v2/verdict`: the gate on a commit's batch, what `qahub gate` waits for in CI."""

from __future__ import annotations

from fastapi import APIRouter

from qa_api.compare.router import (
    BatchParam,
    CommitParam,
    MetricsParam,
    ReferenceBatchParam,
    ReferenceParam,
    ReferenceProjectParam,
    reference_project_id,
)
from qa_api.compare.service import CompareQuery
from qa_api.deps import ReadableProject, ReadAccess, SessionDep
from qa_api.gate import service
from qa_api.gate.schemas import BatchVerdict
from qa_api.params import metric_names

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
async def verdict(
    project: ReadableProject,
    access: ReadAccess,
    session: SessionDep,
    commit: CommitParam,
    reference: ReferenceParam = None,
    batch: BatchParam = "default",
    reference_batch: ReferenceBatchParam = None,
    reference_project: ReferenceProjectParam = None,
    metrics: MetricsParam = None,
) -> BatchVerdict:
    query = CompareQuery(
        project_id=project,
        commit=commit,
        batch=batch,
        reference=reference,
        reference_batch=reference_batch,
        reference_project=reference_project_id(reference_project),
        metrics=metric_names(metrics) if metrics is not None else None,
    )
    return BatchVerdict.of(await service.verdict(session, query, check_readable=access.check))
