"""`/api/v1`: QA-Board's API, as the `qa` CLI (`pip install qaboard`) and QA-Board scripts call it.

Every path answers with and without its trailing slash, as the CLI sends both (every service serves
both forms: `qahub_shared.http.serve_both_slash_forms`). Writes need `runs:write` on their project
(`WriteAccess`), reads `runs:read` unless reads are open (`ReadAccess`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import TypeAdapter

from qa_api.commits import service as commits
from qa_api.commits.repository import CommitFilters
from qa_api.commits.service import BatchReport, CommitSeen
from qa_api.deps import Access, ReadAccess, SessionDep, WriteAccess, write_access
from qa_api.outputs import service as outputs
from qa_api.outputs.service import OutputChanges, RunReport, status_of
from qa_api.params import ProjectParam, metric_names
from qa_api.projects import service as projects
from qa_api.v1 import schemas, serialize
from qahub_shared.bodies import json_body, openapi_body
from qahub_shared.errors import InvalidInput

router = APIRouter(prefix="/api/v1", tags=["QA-Board v1 (qa CLI)"])

OutputId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Output id.")]
MetricsParam = Annotated[
    str | None,
    Query(description='Metrics to aggregate, as QA-Board sends them: `{"psnr": 0, "loss": 0}`.'),
]
BatchParam = Annotated[str | None, Query(max_length=255, description="Only this batch label.")]


def _seen(body: schemas.CommitEnvelope) -> CommitSeen:
    return CommitSeen(
        project_id=body.project,
        sha=body.sha,
        branch=body.commit_branch,
        tag=body.commit_tag,
        message=body.commit_message,
        committer_name=body.commit_committer_name,
        committer_email=body.commit_committer_email,
        authored_at=body.commit_authored_datetime,
        parents=body.commit_parents,
        config=body.qaboard_config,
        metric_definitions=body.qaboard_metrics,
        outputs_dir=body.outputs_commit,
        artifacts_dir=body.artifacts_dir,
    )


_V1_OUTPUT = TypeAdapter(schemas.V1Output)


@router.post(
    "/output/",
    response_model=schemas.V1Output,
    openapi_extra=openapi_body(schemas.OutputReport) | {"security": [{"token": []}]},
)
async def report_output(request: Request) -> Response:
    """Create or update a run: queued (`qa batch`), running (`qa run` starts), finished (ends).

    The same run (commit, batch label, test input, platform, configurations, extra parameters) is
    always the same output: reporting it again updates it in place.
    """
    # The `qa` CLI's hottest call (three per run) takes the request itself: the token is checked before
    # the body is read, and pydantic validates the body's bytes in one pass (see qahub_shared.bodies).
    access = await write_access(request)
    body = await json_body(request, schemas.OutputReport)
    access.check(body.project)
    assert body.test_input_path is not None
    is_pending = body.is_running or body.is_pending
    # A run that ends replaces its previous results, even with none (the CLI's fix-up of killed runs).
    metrics = None if is_pending else (body.metrics or {})
    is_failed = body.is_failed or bool((metrics or {}).get("is_failed"))
    data = {**(body.data or {}), "ci": body.job_type == "ci"}
    if body.user is not None:
        data["user"] = body.user
    if body.batch:
        data["batch"] = body.batch
    report = RunReport(
        batch_label=body.batch_label,
        database=body.database,
        input_path=body.test_input_path,
        input_metadata=body.input_metadata,
        platform="linux" if body.platform == "lsf" else body.platform,
        configurations=body.configurations,
        extra_parameters=body.extra_parameters,
        status=status_of(is_pending=is_pending, is_running=body.is_running, is_failed=is_failed),
        metrics=metrics,
        data=data,
        output_type=body.input_type,
        output_dir=body.output_directory,
        job_type=body.job_type,
    )
    known = request.app.state.known_rows
    output = await outputs.record_run(request.state.database, _seen(body), report, known)
    return Response(
        _V1_OUTPUT.dump_json(_V1_OUTPUT.validate_python(serialize.output(output))),
        media_type="application/json",
    )


async def _check_output(access: Access, session: SessionDep, output_id: int) -> None:
    if access.principal is not None:
        access.check(await outputs.project_of_output(session, output_id))


@router.get("/output/{output_id}/", response_model=schemas.V1Output)
async def get_output(output_id: OutputId, access: ReadAccess, session: SessionDep) -> dict[str, Any]:
    await _check_output(access, session, output_id)
    return serialize.output(await outputs.get_output(session, output_id))


@router.put("/output/{output_id}/", response_model=schemas.V1Output)
async def update_output(
    output_id: OutputId, body: schemas.OutputUpdate, access: WriteAccess, session: SessionDep
) -> dict[str, Any]:
    """Set status flags; merge `metrics` and `data` into the stored ones."""
    await _check_output(access, session, output_id)
    data = body.data
    if body.batch is not None:
        data = {**(data or {}), "batch": body.batch}
    changes = OutputChanges(
        is_pending=body.is_pending,
        is_running=body.is_running,
        is_failed=body.is_failed,
        metrics=body.metrics,
        data=data,
    )
    return serialize.output(await outputs.update_output(session, output_id, changes))


@router.delete("/output/{output_id}/", response_model=schemas.Status)
async def delete_output(output_id: OutputId, access: WriteAccess, session: SessionDep) -> schemas.Status:
    """Forget a run that is not queued or running (409 if it is). Files on disk are left alone."""
    await _check_output(access, session, output_id)
    await outputs.delete_output(session, output_id)
    return schemas.Status()


@router.post("/batch/", response_model=schemas.Status)
async def report_batch(body: schemas.BatchReport, access: WriteAccess, session: SessionDep) -> schemas.Status:
    """`qa batch` registers its command; `qa optimize` reports each iteration."""
    access.check(body.project)
    report = BatchReport(
        label=body.batch_label,
        batch_dir=body.batch_dir or body.prefix_output_dir,
        commands=body.command or {},
        data=body.data or {},
        config=body.qaboard_config,
    )
    batch = await commits.record_batch(session, _seen(body), report)
    return schemas.Status(id=batch.id)


@router.post("/commit/", response_model=schemas.Status)
async def report_commit(
    body: schemas.CommitReport, access: WriteAccess, session: SessionDep
) -> schemas.Status:
    """`qa save-artifacts` saved the commit's artifacts."""
    access.check(body.project)
    await commits.record_commit(session, _seen(body), data=body.data or {})
    return schemas.Status()


@router.get("/commit/", response_model=schemas.V1Commit)
async def reference_commit(
    project: ProjectParam,
    access: ReadAccess,
    session: SessionDep,
    branch: Annotated[
        str | None,
        Query(max_length=255, description="Default: the project's `reference_branch`."),
    ] = None,
    batch: BatchParam = None,
    metrics: MetricsParam = None,
) -> Response:
    """The latest commit on a branch with finished results: how the CLI finds its reference."""
    access.check(project)
    if branch is None:
        branch = await projects.reference_branch(session, project)
    commit = await commits.reference_commit(session, project, branch, batch)
    return await _commit_response(session, commit, batch, metrics)


@router.get("/commit/{reference:path}", response_model=schemas.V1Commit)
async def get_commit(
    reference: Annotated[str, Path(description="A sha (or its prefix), a branch or a tag.")],
    project: ProjectParam,
    access: ReadAccess,
    session: SessionDep,
    batch: BatchParam = None,
    metrics: MetricsParam = None,
) -> Response:
    """A commit, its batches (or only `batch`) with their outputs and aggregated metrics."""
    access.check(project)
    reference = reference.strip("/")
    if not reference or len(reference) > 255:
        raise InvalidInput("commit: give a sha, a branch or a tag (at most 255 characters)")
    commit = await commits.find_commit(session, project, reference)
    return await _commit_response(session, commit, batch, metrics)


async def _commit_response(
    session: SessionDep, commit: Any, batch: str | None, metrics: str | None
) -> Response:
    view = await commits.view_commit_for_v1(
        session, commit, labels=[batch] if batch is not None else None, metrics=metric_names(metrics)
    )
    # already the response model's JSON (`serialize.commit_json`): returned as is, not validated again
    return Response(serialize.commit_json(view), media_type="application/json")


@router.get("/projects", response_model=dict[str, schemas.V1ProjectSummary])
async def list_projects(access: ReadAccess, session: SessionDep) -> dict[str, Any]:
    """Every project with commits, by id: QA-Board's project list (the ones the token may see)."""
    listing = await projects.all_projects(session, visible=access.projects)
    return {item.project.id: serialize.project_summary(item) for item in listing if item.total_commits}


@router.get("/project", response_model=dict[str, Any])
async def get_project(project: ProjectParam, access: ReadAccess, session: SessionDep) -> dict[str, Any]:
    """A project's data as QA-Board returns it: its config, metric definitions and milestones."""
    access.check(project)
    entity = await projects.get_project(session, project)
    return {
        "qatools_config": entity.config,
        "qatools_metrics": entity.metric_definitions,
        "milestones": await projects.milestones(session, project),
    }


@router.get("/project/branches", response_model=list[str])
async def list_branches(project: ProjectParam, access: ReadAccess, session: SessionDep) -> list[str]:
    """Every branch a commit of the project was seen on."""
    access.check(project)
    return await commits.branches(session, project)


@router.get("/commits", response_model=list[schemas.V1Commit])
# declared, not left to the twin of `/commits`: `/commits/{branch:path}` would take it, with branch ''
@router.get("/commits/", response_model=list[schemas.V1Commit], include_in_schema=False)
@router.get("/commits/{branch:path}", response_model=list[schemas.V1Commit])
async def list_commits(
    project: ProjectParam,
    access: ReadAccess,
    session: SessionDep,
    response: Response,
    branch: str | None = None,
    committer: Annotated[str | None, Query(max_length=255)] = None,
    batch: BatchParam = None,
    metrics: MetricsParam = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    with_outputs: bool = False,
) -> list[dict[str, Any]]:
    """Newest commits first (`X-Has-More` tells whether there are more); see `/api/v2/commits`."""
    access.check(project)
    filters = CommitFilters(branch=branch or None, committer=committer, batch_label=batch)
    found = await commits.list_commits(session, project, filters, after=None, limit=limit + 1)
    response.headers["X-Has-More"] = "true" if len(found) > limit else "false"
    views = await commits.view_commits(
        session,
        found[:limit],
        labels=[batch] if batch else None,
        metrics=metric_names(metrics),
        with_outputs=with_outputs,
    )
    return [serialize.commit(view, with_outputs=with_outputs) for view in views]


@router.get("/project/milestones", response_model=dict[str, dict[str, Any]])
async def list_milestones(project: ProjectParam, access: ReadAccess, session: SessionDep) -> dict[str, Any]:
    """The project's shared milestones, by key."""
    access.check(project)
    await projects.get_project(session, project)
    return await projects.milestones(session, project)


@router.post(
    "/project/milestones",
    response_model=dict[str, dict[str, Any]],
)
async def save_milestone(
    body: schemas.MilestoneUpdate, access: WriteAccess, session: SessionDep
) -> dict[str, Any]:
    """Save a milestone under `key` (or remove it with `delete: true`); returns all milestones."""
    access.check(body.project)
    if not body.delete and body.milestone is None:
        raise InvalidInput("milestone: required unless delete is true")
    return await projects.save_milestone(
        session, body.project, body.key, None if body.delete else body.milestone
    )


@router.delete(
    "/project/milestones",
    response_model=dict[str, dict[str, Any]],
)
async def delete_milestone(
    project: ProjectParam,
    key: Annotated[str, Query(min_length=1, max_length=255)],
    access: WriteAccess,
    session: SessionDep,
) -> dict[str, Any]:
    """Remove the milestone `key`; returns the remaining milestones."""
    access.check(project)
    return await projects.save_milestone(session, project, key, None)
