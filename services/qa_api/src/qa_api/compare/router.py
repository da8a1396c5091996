"""`GET /api/v2/compare`: a batch of a commit, output by output, against a reference batch."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from qa_api.compare import service
from qa_api.compare.judging import Position
from qa_api.compare.schemas import Comparison
from qa_api.compare.service import CompareQuery
from qa_api.compare.verdicts import DEFAULT_TOLERANCE, Verdict
from qa_api.deps import ReadableProject, ReadAccess, SessionDep
from qa_api.params import DEFAULT_LIMIT, Cursor, Limit, WithoutNul, metric_names, valid_project_id
from qahub_shared.errors import InvalidInput
from qahub_shared.schemas.pagination import decode_cursor

router = APIRouter(prefix="/api/v2", tags=["compare"])


def _position(cursor: str | None) -> Position | None:
    if cursor is None:
        return None
    position = decode_cursor(cursor, keys={"path", "platform", "id"})
    path, platform, output_id = position["path"], position["platform"], position["id"]
    if not (isinstance(path, str) and isinstance(platform, str) and type(output_id) is int):
        raise InvalidInput("cursor: not a cursor this API issued")
    return path, platform, output_id


CommitParam = Annotated[
    str, Query(min_length=1, max_length=255, description="A sha (or prefix), branch or tag."), WithoutNul
]
ReferenceParam = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=255,
        description="A sha (or prefix), branch, tag or milestone key. Default: the nearest ancestor "
        "of `commit` with finished results on the project's reference branch (for a commit on "
        "another branch: its fork point), else the latest commit with finished results there.",
    ),
    WithoutNul,
]
BatchParam = Annotated[
    str, Query(min_length=1, max_length=255, description="The commit's batch label."), WithoutNul
]
ReferenceBatchParam = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=255,
        description="The reference's batch label (default: the milestone's, else `batch`).",
    ),
    WithoutNul,
]
ReferenceProjectParam = Annotated[
    str | None,
    Query(description="The reference's project, which you must be allowed to read (default: `project`)."),
]
MetricsParam = Annotated[
    str | None,
    Query(
        description="Metrics to compare: `a,b,c` (default: the project's summary metrics, else every "
        "metric it defines). A name the project's metric definitions do not know is a 422."
    ),
]


async def compared_batches(
    project: ReadableProject,
    commit: CommitParam,
    reference: ReferenceParam = None,
    batch: BatchParam = "default",
    reference_batch: ReferenceBatchParam = None,
    reference_project: ReferenceProjectParam = None,
    metrics: MetricsParam = None,
) -> CompareQuery:
    """What is compared with what: the parameters `GET /api/v2/verdict` (qa_api.gate) shares with
    `GET /api/v2/compare`, validated."""
    return CompareQuery(
        project_id=project,
        commit=commit,
        batch=batch,
        reference=reference,
        reference_batch=reference_batch,
        reference_project=None
        if reference_project is None
        else valid_project_id(reference_project, field="reference_project"),
        metrics=metric_names(metrics) if metrics is not None else None,
    )


ComparedBatches = Annotated[CompareQuery, Depends(compared_batches)]


@router.get(
    "/compare",
    summary="Compare a commit's batch with a reference, output by output",
    description=f"""
Every output of the commit's `batch` is matched with an output of the reference batch as QA-Board's
web app does it: same input (path, or non-empty `test_input.metadata.id`), not pending; then the same
platform, the nearest `configurations`, the nearest `extra_parameters`, the lowest id. Unmatched
outputs are `new`; reference outputs no one matched are `missing`.

Each metric is judged with the project's metric definitions (`smaller_is_better`, default true;
`tolerance`, a relative fraction, default {DEFAULT_TOLERANCE}; `target` with `target_passfail`: pass or
fail). A failed run is `worse` (commit), `better` (reference) or `same` (both). `summary` covers the
whole batch; `outputs` is a page, in input path, platform and output id order.
""",
)
async def compare(
    compared: ComparedBatches,
    access: ReadAccess,
    session: SessionDep,
    metric: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=255,
            description="Only outputs with a value of this metric (with `verdict`: that verdict on it).",
        ),
        WithoutNul,
    ] = None,
    verdict: Annotated[Verdict | None, Query(description="Only outputs with this verdict.")] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Comparison:
    query = replace(compared, verdict=verdict, metric=metric, after=_position(cursor), limit=limit)
    return Comparison.of(await service.compare(session, query, check_readable=access.check))
