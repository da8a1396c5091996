"""Commits: recording what the CLI tells us about them, and reading them back with their batches."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from qa_api.commits import repository
from qa_api.commits.repository import BatchStats, CommitFilters, PageBatch, PageCommit
from qa_api.models import Batch, Commit, RefKind
from qa_api.outputs import repository as outputs_repository
from qa_api.outputs.repository import OutputRow
from qa_api.projects import repository as projects_repository
from qahub_shared.errors import InvalidInput, NotFound

_OPTIMIZATION_ITERATION = re.compile(r"^(?P<parent>.+)\|iter(?P<n>\d+)$")


@dataclass(frozen=True)
class CommitSeen:
    """What a client reports about a commit it ran on."""

    project_id: str
    sha: str
    branch: str | None = None
    tag: str | None = None
    message: str | None = None
    committer_name: str | None = None
    committer_email: str | None = None
    authored_at: datetime | None = None
    parents: Sequence[str] = ()
    config: dict[str, Any] | None = None
    metric_definitions: dict[str, Any] | None = None
    outputs_dir: str | None = None
    artifacts_dir: str | None = None

    @property
    def on_reference_branch(self) -> bool:
        project = (self.config or {}).get("project")
        reference = project.get("reference_branch") if isinstance(project, dict) else None
        return reference is not None and _branch_name(self.branch) == reference

    @property
    def refs(self) -> list[tuple[RefKind, str]]:
        refs = []
        if self.tag:
            refs.append((RefKind.TAG, self.tag))
        branch = _branch_name(self.branch)
        # GitLab tag pipelines report the tag as the branch too.
        if branch and branch != self.tag:
            refs.append((RefKind.BRANCH, branch))
        return refs


def _branch_name(branch: str | None) -> str | None:
    if not branch:
        return None
    return branch.removeprefix("refs/heads/").removeprefix("origin/") or None


@dataclass
class CommitView:
    """A commit with its refs, and the batches asked for with their statistics (and outputs)."""

    commit: Commit
    refs: list[tuple[str, str]]
    batches: list[Batch] = field(default_factory=list)
    stats: dict[int, BatchStats] = field(default_factory=dict)
    outputs: dict[int, list[OutputRow]] = field(default_factory=dict)
    # each batch's outputs as QA-Board's JSON map, built by PostgreSQL (see `view_commit_for_v1`)
    outputs_json: dict[int, str] = field(default_factory=dict)

    @property
    def branches(self) -> list[str]:
        return [name for kind, name in self.refs if kind == RefKind.BRANCH.value]

    @property
    def tags(self) -> list[str]:
        return [name for kind, name in self.refs if kind == RefKind.TAG.value]


async def ensure_commit(session: AsyncSession, seen: CommitSeen) -> Commit:
    """The stored commit, created on first sight; every branch and tag it is seen on is recorded.

    Runs inside the caller's transaction. Like QA-Board, a commit's first report wins for its own
    fields (message, dates...). The project's config follows its reference branch: a new commit seen
    there brings its config; a feature branch's config stays with its own commits.
    """
    commit = await repository.get_commit(session, seen.project_id, seen.sha)
    if commit is None:
        await projects_repository.save_project_config(
            session,
            seen.project_id,
            config=seen.config,
            metric_definitions=seen.metric_definitions,
            replace=seen.on_reference_branch,
        )
        values: dict[str, Any] = {
            "project_id": seen.project_id,
            "sha": seen.sha,
            "message": seen.message,
            "committer_name": seen.committer_name,
            "committer_email": seen.committer_email,
            "parents": list(seen.parents),
            "outputs_dir": seen.outputs_dir,
            "artifacts_dir": seen.artifacts_dir,
            "data": {
                "qatools_config": seen.config or {},
                "qatools_metrics": seen.metric_definitions or {},
            },
        }
        if seen.authored_at is not None:
            values["authored_at"] = seen.authored_at
        commit = await repository.create_commit(session, values)
    assert commit.id is not None
    await repository.add_refs(session, commit.id, seen.refs)
    return commit


async def record_commit(session: AsyncSession, seen: CommitSeen, *, data: dict[str, Any]) -> Commit:
    """`qa save-artifacts`: the commit exists, its artifacts are in `seen.artifacts_dir`."""
    async with session.begin():
        commit = await ensure_commit(session, seen)
        assert commit.id is not None
        changes: dict[str, Any] = {}
        if data:
            changes["data"] = {**commit.data, **data}
        if seen.artifacts_dir:
            changes["artifacts_dir"] = seen.artifacts_dir
        if changes:
            await repository.update_commit(session, commit.id, **changes)
    return commit


@dataclass(frozen=True)
class BatchReport:
    """`qa batch` registering a command, or `qa optimize` reporting progress."""

    label: str
    batch_dir: str | None
    commands: dict[str, Any]
    data: dict[str, Any]
    config: dict[str, Any] | None


async def record_batch(session: AsyncSession, seen: CommitSeen, report: BatchReport) -> Batch:
    async with session.begin():
        commit = await ensure_commit(session, seen)
        assert commit.id is not None
        batch = await repository.get_or_create_batch(session, commit.id, report.label)
        assert batch.id is not None
        data = {**batch.data, **report.data}
        # A batch run with another config than its commit's keeps its own (per-batch overrides).
        if report.config is not None and report.config != commit.data.get("qatools_config"):
            data["qatools_config"] = report.config
        optimization = bool(report.data.get("optimization"))
        if optimization and report.data.get("is_best_iter"):
            data["best_iter"] = report.data.get("iteration")
        changes: dict[str, Any] = {"data": data}
        if report.commands:
            changes["commands"] = {**batch.commands, **report.commands}
        if report.batch_dir is not None:
            changes["batch_dir"] = report.batch_dir
        await repository.update_batch(session, batch.id, **changes)
        if optimization:
            await _record_optimization_step(session, commit, batch, report.data)
        batch.data = data
    return batch


async def _record_optimization_step(
    session: AsyncSession, commit: Commit, batch: Batch, step: dict[str, Any]
) -> None:
    """`qa optimize` bookkeeping, as QA-Board does it.

    The parent batch (e.g. `tune`) gathers the best iteration's outputs; iteration batches
    (`tune|iter1`, `tune|iter2`...) up to the current iteration are dropped once reported.
    """
    assert commit.id is not None
    assert batch.id is not None
    iteration = step.get("iteration")
    if not isinstance(iteration, int) or isinstance(iteration, bool):
        raise InvalidInput("data.iteration: an optimization step needs an integer iteration")
    if step.get("is_best_iter"):
        label = step.get("iteration_label")
        if not isinstance(label, str):
            raise InvalidInput("data.iteration_label: the best iteration needs its batch label")
        best = await repository.get_batch(session, commit.id, label)
        if best is not None and best.id is not None:
            await outputs_repository.replace_best_outputs(
                session,
                parent_batch_id=batch.id,
                best_batch_id=best.id,
                keep_previous=bool(step.get("keep_all_best_iters")),
            )
            await repository.mark_changed(session, [batch.id])
    finished = []
    for candidate in await repository.batches_of(session, [commit.id]):
        match = _OPTIMIZATION_ITERATION.match(candidate.label)
        if match and match["parent"] == batch.label and int(match["n"]) <= iteration:
            finished.append(candidate.id)
    await repository.delete_batches(session, [batch_id for batch_id in finished if batch_id])


async def find_commit(session: AsyncSession, project_id: str, reference: str) -> Commit:
    commit = await repository.find_commit(session, project_id, reference)
    if commit is None:
        await _require_project(session, project_id)
        raise NotFound(f"No commit, branch or tag '{reference}' in project '{project_id}'.")
    return commit


async def reference_commit(
    session: AsyncSession, project_id: str, branch: str, batch_label: str | None
) -> Commit:
    commit = await repository.latest_commit_with_results(session, project_id, branch, batch_label)
    if commit is None:
        await _require_project(session, project_id)
        batch = f" in batch '{batch_label}'" if batch_label else ""
        raise NotFound(
            f"No commit of project '{project_id}' on branch '{branch}' has finished results{batch}."
        )
    return commit


async def reference_commit_before(
    session: AsyncSession, project_id: str, branch: str, batch_label: str, commit: Commit
) -> Commit:
    """The latest commit on `branch` with finished results in `batch_label` that is neither `commit`
    nor authored after it: a reference when `commit`'s history is unknown. 404 when there is none."""
    found = await repository.latest_commit_with_results(
        session, project_id, branch, batch_label, before=commit
    )
    if found is None:
        await _require_project(session, project_id)
        raise NotFound(
            f"No reference for commit '{commit.sha}': no commit of project '{project_id}' before it on "
            f"branch '{branch}' has finished results in batch '{batch_label}' (name one with reference=)."
        )
    return found


async def _require_project(session: AsyncSession, project_id: str) -> None:
    if await projects_repository.get_project(session, project_id) is None:
        raise NotFound(f"No project '{project_id}'.")


async def batch_statistics(
    session: AsyncSession, batch_ids: Sequence[int], metrics: Sequence[str]
) -> dict[int, BatchStats]:
    """Each batch's status counts and, of `metrics`, the aggregates: from the cache when up to date.

    Batches whose outputs changed since their statistics were computed (or never computed) are
    recomputed by PostgreSQL and cached; commits the session's transaction.
    """
    if not batch_ids:
        return {}
    changed = await repository.take_changes(session, batch_ids)
    cached = await repository.cached_stats(session, [i for i in batch_ids if i not in changed])
    fresh = await repository.compute_stats(session, [i for i in batch_ids if i not in cached])
    if fresh:
        await repository.save_stats(session, fresh)
    if fresh or changed:
        await session.commit()
    wanted = set(metrics)
    return {batch_id: _only(cached.get(batch_id) or fresh[batch_id], wanted) for batch_id in batch_ids}


def _only(stats: BatchStats, metrics: set[str]) -> BatchStats:
    """`stats` with only the aggregates of `metrics`."""
    return replace(stats, metrics={name: m for name, m in stats.metrics.items() if name in metrics})


async def view_commits(
    session: AsyncSession,
    commits: Sequence[Commit],
    *,
    labels: Sequence[str] | None,
    metrics: Sequence[str],
    with_outputs: bool,
) -> list[CommitView]:
    """Load refs, batches (all, or those labelled `labels`), their stats and optionally outputs."""
    ids = [commit.id for commit in commits if commit.id is not None]
    refs = await repository.refs_of(session, ids)
    batches = await repository.batches_of(session, ids, labels)
    batch_ids = [batch.id for batch in batches if batch.id is not None]
    stats = await batch_statistics(session, batch_ids, metrics)
    outputs: dict[int, list[OutputRow]] = {batch_id: [] for batch_id in batch_ids}
    if with_outputs and batch_ids:
        for row in await outputs_repository.outputs_of_batches(session, batch_ids):
            outputs[row.batch_id].append(row)
    views = {
        commit.id: CommitView(commit=commit, refs=refs.get(commit.id, []))
        for commit in commits
        if commit.id is not None
    }
    for batch in batches:
        assert batch.id is not None
        view = views[batch.commit_id]
        view.batches.append(batch)
        view.stats[batch.id] = stats[batch.id]
        view.outputs[batch.id] = outputs[batch.id]
    return list(views.values())


async def view_commit(
    session: AsyncSession,
    commit: Commit,
    *,
    labels: Sequence[str] | None,
    metrics: Sequence[str],
    with_outputs: bool,
) -> CommitView:
    (view,) = await view_commits(session, [commit], labels=labels, metrics=metrics, with_outputs=with_outputs)
    return view


async def view_commit_for_v1(
    session: AsyncSession, commit: Commit, *, labels: Sequence[str] | None, metrics: Sequence[str]
) -> CommitView:
    """`view_commit` with each batch's outputs as QA-Board's JSON map (`CommitView.outputs_json`)."""
    view = await view_commit(session, commit, labels=labels, metrics=metrics, with_outputs=False)
    view.outputs_json = await outputs_repository.v1_outputs_json(
        session, [batch.id for batch in view.batches if batch.id is not None]
    )
    return view


async def list_commits(
    session: AsyncSession,
    project_id: str,
    filters: CommitFilters,
    *,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[Commit]:
    await _require_project(session, project_id)
    return await repository.list_commits(session, project_id, filters, after=after, limit=limit)


async def commit_page(
    session: AsyncSession,
    project_id: str,
    filters: CommitFilters,
    *,
    after: tuple[datetime, int] | None,
    limit: int,
    labels: Sequence[str] | None,
    metrics: Sequence[str],
) -> list[PageCommit]:
    """Commits newest first, with their refs, their batches (those labelled `labels`, else all) and
    the batches' up-to-date statistics of `metrics`; 404 for an unknown project.
    """
    page = await repository.commit_page(session, project_id, filters, after=after, limit=limit, labels=labels)
    if not page:
        await _require_project(session, project_id)
    out_of_date = [batch.id for item in page for batch in item.batches if batch.stats is None]
    fresh = await batch_statistics(session, out_of_date, metrics)
    wanted = set(metrics)

    def up_to_date(batch: PageBatch) -> PageBatch:
        stats = fresh[batch.id] if batch.stats is None else _only(batch.stats, wanted)
        return replace(batch, stats=stats)

    return [replace(item, batches=[up_to_date(batch) for batch in item.batches]) for item in page]


async def branches(session: AsyncSession, project_id: str) -> list[str]:
    await _require_project(session, project_id)
    return await repository.branches(session, project_id)
