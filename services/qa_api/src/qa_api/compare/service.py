"""Comparing a batch of a commit with a reference batch: which reference, which metrics, which verdicts.

The whole of both batches is matched and judged on every request (the summary covers the batch);
only the page of outputs asked for is returned. Both batches' runs come in one query, with only the
columns and metric values compared.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from qa_api.commits import repository as commits_repository
from qa_api.commits import service as commits
from qa_api.commits.repository import BatchStats, MetricStats
from qa_api.commits.service import CommitView
from qa_api.compare import repository
from qa_api.compare.judging import JudgedPair, Position, counts, details, judge_pair, page
from qa_api.compare.matching import match, sort_pairs
from qa_api.compare.verdicts import MetricRule, MetricVerdict, Verdict, judge, rules
from qa_api.models import Commit, Project
from qa_api.projects import repository as projects_repository
from qa_api.projects import service as projects
from qahub_shared.errors import InvalidInput, NotFound


class ReferenceReason(StrEnum):
    """Why the reference is the one it is."""

    EXPLICIT = "explicit"  # `reference=` named a commit, branch or tag
    MILESTONE = "milestone"  # `reference=` named a milestone
    PREVIOUS_ON_REFERENCE_BRANCH = "previous_on_reference_branch"  # nearest ancestor on that branch
    FORK_POINT = "fork_point"  # nearest ancestor on the reference branch of a commit off it
    LATEST_ON_REFERENCE_BRANCH = "latest_on_reference_branch"  # history unknown: the latest there before it


@dataclass(frozen=True)
class CompareQuery:
    """What `GET /api/v2/compare` asks, validated."""

    project_id: str
    commit: str
    batch: str
    reference: str | None = None
    reference_batch: str | None = None
    reference_project: str | None = None
    metrics: Sequence[str] | None = None  # None: the project's summary metrics
    verdict: Verdict | None = None
    metric: str | None = None
    after: Position | None = None
    limit: int = 50


@dataclass(frozen=True)
class MedianComparison:
    """A metric's aggregates over both batches, the delta of their medians and its verdict."""

    commit: MetricStats | None
    reference: MetricStats | None
    delta: float | None
    delta_percent: float | None
    verdict: Verdict | None  # None: neither batch has the metric


@dataclass(frozen=True)
class ComparedOutput:
    """An output of the page, judged, with its metrics' values and deltas."""

    judged: JudgedPair
    metrics: dict[str, MetricVerdict]


@dataclass(frozen=True)
class JudgedBatch:
    """Every output of the commit's batch matched with the reference batch and judged, before paging:
    what `GET /api/v2/compare` pages through and `GET /api/v2/verdict` sums up."""

    project_id: str
    batch: str
    commit: CommitView  # with only the compared batch
    reference: CommitView  # with only the reference batch
    reference_project: str
    reference_batch: str
    reference_reason: ReferenceReason
    names: list[str]  # the compared metrics, in the order of the runs' values
    rules: list[MetricRule]  # their rules, in the same order
    medians: dict[str, MedianComparison]
    counts: dict[str, Counter[Verdict]]
    judged: list[JudgedPair]  # in `Pair.sort_key` order

    def details(self, item: JudgedPair) -> dict[str, MetricVerdict]:
        """The values, deltas and verdicts of a judged output's metrics."""
        return details(item, self.names, self.rules)


@dataclass(frozen=True)
class ComparisonResult:
    judged: JudgedBatch
    outputs: list[ComparedOutput]  # the page
    next_position: Position | None


@dataclass(frozen=True)
class _Reference:
    commit: Commit
    project_id: str
    batch: str
    reason: ReferenceReason


async def compare(
    session: AsyncSession, query: CompareQuery, *, check_readable: Callable[[str], None]
) -> ComparisonResult:
    """`judge_batch`, and the page of outputs `query` asks for."""
    judged = await judge_batch(session, query, check_readable=check_readable)
    found, next_position = page(
        judged.judged,
        verdict=query.verdict,
        metric=None if query.metric is None else judged.names.index(query.metric),
        after=query.after,
        limit=query.limit,
    )
    return ComparisonResult(
        judged=judged,
        outputs=[ComparedOutput(item, judged.details(item)) for item in found],
        next_position=next_position,
    )


async def judge_batch(
    session: AsyncSession, query: CompareQuery, *, check_readable: Callable[[str], None]
) -> JudgedBatch:
    """Match and judge every output of `query.batch` of `query.commit` against the reference batch
    (see `ReferenceReason`); the paging fields of `query` are not used.

    `check_readable` raises unless the caller may read a project: it is called on the reference's
    project when it is another one.
    """
    project = await projects.get_project(session, query.project_id)
    target = await commits.find_commit(session, query.project_id, query.commit)
    # before the reference: without that batch, there is nothing to find a reference for
    if target.id is None or await commits_repository.get_batch(session, target.id, query.batch) is None:
        raise NotFound(f"Commit '{target.sha}' of project '{query.project_id}' has no batch '{query.batch}'.")
    reference = await _reference(session, query, target, check_readable)
    names = _metric_names(project, target, query)
    labels = list(dict.fromkeys([query.batch, reference.batch]))
    views = await commits.view_commits(
        session,
        list({commit.id: commit for commit in (target, reference.commit)}.values()),
        labels=labels,
        metrics=names,
        with_outputs=False,
    )
    by_id = {view.commit.id: view for view in views}
    mine = _only_batch(by_id[target.id], query.batch, query.project_id)
    theirs = _only_batch(by_id[reference.commit.id], reference.batch, reference.project_id)
    batch_id, reference_batch_id = mine.batches[0].id, theirs.batches[0].id
    assert batch_id is not None
    assert reference_batch_id is not None
    runs = await repository.runs_of_batches(session, list({batch_id, reference_batch_id}), names)
    metric_rules = rules(_definitions(project, target), names)
    ordered_rules = list(metric_rules.values())
    pairs = sort_pairs(match(runs[batch_id], runs[reference_batch_id]))
    judged = [judge_pair(pair, ordered_rules) for pair in pairs]
    return JudgedBatch(
        project_id=query.project_id,
        batch=query.batch,
        commit=mine,
        reference=theirs,
        reference_project=reference.project_id,
        reference_batch=reference.batch,
        reference_reason=reference.reason,
        names=names,
        rules=ordered_rules,
        medians=_medians(mine.stats[batch_id], theirs.stats[reference_batch_id], metric_rules),
        counts=counts(judged, names),
        judged=judged,
    )


async def _reference(
    session: AsyncSession, query: CompareQuery, target: Commit, check_readable: Callable[[str], None]
) -> _Reference:
    project_id = query.reference_project or query.project_id
    if project_id != query.project_id:
        check_readable(project_id)
        await projects.get_project(session, project_id)
    batch = query.reference_batch or query.batch
    if query.reference is not None:
        commit = await commits_repository.find_commit(session, project_id, query.reference)
        if commit is not None:
            return _Reference(commit, project_id, batch, ReferenceReason.EXPLICIT)
        return await _milestone(session, query, query.reference, check_readable)
    branch = await projects.reference_branch(session, project_id)
    ancestor = await commits_repository.nearest_ancestor_with_results(
        session, project_id, target.parents, branch, batch
    )
    if ancestor is not None:
        assert target.id is not None
        on_branch = await commits_repository.is_on_branch(session, query.project_id, target.id, branch)
        reason = ReferenceReason.PREVIOUS_ON_REFERENCE_BRANCH if on_branch else ReferenceReason.FORK_POINT
        return _Reference(ancestor, project_id, batch, reason)
    # never the commit itself nor a newer one: a first batch has no reference
    latest = await commits.reference_commit_before(session, project_id, branch, batch, target)
    return _Reference(latest, project_id, batch, ReferenceReason.LATEST_ON_REFERENCE_BRANCH)


async def _milestone(
    session: AsyncSession, query: CompareQuery, key: str, check_readable: Callable[[str], None]
) -> _Reference:
    """The reference a milestone of the project names: its commit, its batch, and its project (QA-Board's
    web app writes `project` when the milestone is of another one); the query's own choices win."""
    milestone = (await projects_repository.milestones(session, query.project_id)).get(key)
    project_id = query.reference_project or query.project_id
    if milestone is None:
        raise NotFound(f"No commit, branch, tag or milestone '{key}' in project '{project_id}'.")
    if query.reference_project is None and isinstance(milestone.get("project"), str):
        project_id = milestone["project"]
        if project_id != query.project_id:
            check_readable(project_id)
    sha = milestone.get("commit")
    if not isinstance(sha, str) or not sha:
        raise NotFound(f"Milestone '{key}' of project '{query.project_id}' names no commit.")
    commit = await commits_repository.find_commit(session, project_id, sha)
    if commit is None:
        raise NotFound(f"Milestone '{key}' names commit '{sha}', which project '{project_id}' does not have.")
    label = milestone.get("batch")
    batch = query.reference_batch or (label if isinstance(label, str) and label else query.batch)
    return _Reference(commit, project_id, batch, ReferenceReason.MILESTONE)


def _available(definitions: Mapping[str, Any]) -> Mapping[str, Any]:
    available = definitions.get("available_metrics")
    return available if isinstance(available, Mapping) else {}


def _definitions(project: Project, commit: Commit) -> Mapping[str, Any]:
    """The metric definitions the commit was run with when stored, else the project's."""
    stored = commit.data.get("qatools_metrics")
    if isinstance(stored, Mapping) and _available(stored):
        return stored
    return project.metric_definitions


def _metric_names(project: Project, commit: Commit, query: CompareQuery) -> list[str]:
    """The metrics compared: those asked for, else the summary metrics, else every defined one; a
    name the definitions do not know is refused only when there are definitions."""
    known = list(
        dict.fromkeys([*_available(project.metric_definitions), *_available(_definitions(project, commit))])
    )
    for field, asked in (
        ("metrics", query.metrics or []),
        ("metric", [query.metric] if query.metric else []),
    ):
        unknown = [name for name in asked if known and name not in known]
        if unknown:
            raise InvalidInput(
                f"{field}: project '{project.id}' defines no metric {', '.join(map(repr, unknown))} "
                f"(it defines {', '.join(sorted(known))})"
            )
    if query.metrics is not None:
        names = list(query.metrics)
    else:
        summary = project.metric_definitions.get("summary_metrics")
        names = [str(name) for name in summary] if isinstance(summary, list) else known
    if query.metric is not None and query.metric not in names:
        names.append(query.metric)
    if not names:
        raise InvalidInput("metrics: name the metrics to compare (the project has no summary_metrics)")
    return names


def _only_batch(view: CommitView, label: str, project_id: str) -> CommitView:
    """The view with only its batch `label`; 404 when the commit has none."""
    batch = next((batch for batch in view.batches if batch.label == label), None)
    if batch is None or batch.id is None:
        raise NotFound(f"Commit '{view.commit.sha}' of project '{project_id}' has no batch '{label}'.")
    return CommitView(
        commit=view.commit, refs=view.refs, batches=[batch], stats={batch.id: view.stats[batch.id]}
    )


def _medians(
    mine: BatchStats, theirs: BatchStats, metric_rules: Mapping[str, MetricRule]
) -> dict[str, MedianComparison]:
    medians = {}
    for name, rule in metric_rules.items():
        a, b = mine.metrics.get(name), theirs.metrics.get(name)
        if a is None and b is None:
            medians[name] = MedianComparison(None, None, None, None, None)
            continue
        judged = judge(a.median if a else None, b.median if b else None, rule)
        medians[name] = MedianComparison(a, b, judged.delta, judged.delta_percent, judged.verdict)
    return medians
