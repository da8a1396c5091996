"""SQL for projects' commits, the refs they were seen on, their batches, and batch statistics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Text,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    literal_column,
    null,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from qa_api.db import any_id
from qa_api.models import (
    Batch,
    BatchChange,
    Commit,
    CommitRef,
    OutputStatus,
    RefKind,
    batch_change_table,
    batch_table,
    commit_ref_table,
    commit_table,
    git_ref_table,
    output_table,
    project_table,
)

C = commit_table.c
R = commit_ref_table.c
B = batch_table.c
BC = batch_change_table.c
O = output_table.c  # noqa: E741
G = git_ref_table.c
P = project_table.c


@dataclass(frozen=True)
class MetricStats:
    median: float
    mean: float
    min: float
    max: float
    count: int


@dataclass
class BatchStats:
    queued: int = 0
    running: int = 0
    finished: int = 0
    failed: int = 0
    metrics: dict[str, MetricStats] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.queued + self.running + self.finished + self.failed


@dataclass(frozen=True)
class CommitFilters:
    branch: str | None = None
    tag: str | None = None
    committer: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    batch_label: str | None = None
    text: str | None = None


async def get_commit(session: AsyncSession, project_id: str, sha: str) -> Commit | None:
    query = select(Commit).where(C.project_id == project_id, C.sha == sha)
    return (await session.execute(query)).scalar_one_or_none()


async def create_commit(session: AsyncSession, values: dict[str, Any]) -> Commit:
    """Insert a commit unless a concurrent writer did first; either way return the stored row."""
    await session.execute(
        insert(Commit).values(**values).on_conflict_do_nothing(index_elements=["project_id", "sha"])
    )
    commit = await get_commit(session, values["project_id"], values["sha"])
    assert commit is not None
    return commit


async def add_refs(session: AsyncSession, commit_id: int, refs: Sequence[tuple[RefKind, str]]) -> None:
    if refs:
        await session.execute(
            insert(CommitRef)
            .values([{"commit_id": commit_id, "kind": kind.value, "name": name} for kind, name in refs])
            .on_conflict_do_nothing()
        )


async def refs_of(session: AsyncSession, commit_ids: Sequence[int]) -> dict[int, list[tuple[str, str]]]:
    """Each commit's (kind, name) refs, in the order they were first seen."""
    rows = await session.execute(
        select(R.commit_id, R.kind, R.name)
        .where(R.commit_id == any_id(commit_ids))
        .order_by(R.commit_id, R.first_seen_at, R.name)
    )
    refs: dict[int, list[tuple[str, str]]] = {commit_id: [] for commit_id in commit_ids}
    for commit_id, kind, name in rows:
        refs[commit_id].append((kind, name))
    return refs


async def update_commit(session: AsyncSession, commit_id: int, **values: Any) -> None:
    await session.execute(update(Commit).where(C.id == commit_id).values(**values))


async def find_commit(session: AsyncSession, project_id: str, reference: str) -> Commit | None:
    """A commit by full or abbreviated sha, else the tip of the branch or tag of that name as git has it,
    else the latest commit a branch or tag of that name was seen on."""
    if reference.isalnum() and len(reference) >= 4:
        by_sha = (
            await session.execute(
                select(Commit)
                .where(C.project_id == project_id, C.sha.startswith(reference.lower(), autoescape=True))
                .order_by(C.authored_at.desc(), C.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        if by_sha is not None:
            return by_sha
    names = _ref_names(reference)
    tip = (
        await session.execute(
            select(Commit)
            .join(git_ref_table, G.commit_id == C.id)
            .where(G.project_id == project_id, G.name == reference)
            # a branch before a tag of the same name, as git resolves it
            .order_by(G.kind)
            .limit(1)
        )
    ).scalar_one_or_none()
    if tip is not None:
        return tip
    return (
        await session.execute(
            select(Commit)
            .where(
                C.project_id == project_id,
                exists().where(R.commit_id == C.id, R.name.in_(names)),
            )
            .order_by(C.authored_at.desc(), C.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


def _ref_names(name: str) -> list[str]:
    return [name, f"origin/{name}"]


def on_branch(project_id: str, names: Sequence[str]) -> ColumnElement[bool]:
    """Whether a commit (`commit.id`) is on one of these branches: git's history of the branch (every
    commit its tip reaches through parents), or seen there by a CI run or a push.
    """
    history = text(
        """
        WITH RECURSIVE history(id, parents) AS (
            SELECT c.id, c.parents FROM git_ref AS g JOIN commit AS c ON c.id = g.commit_id
            WHERE g.project_id = :history_project AND g.kind = 'branch' AND g.name = ANY(:history_names)
          UNION
            SELECT c.id, c.parents
            FROM history AS h CROSS JOIN LATERAL unnest(h.parents) AS p(sha)
            JOIN commit AS c ON c.project_id = :history_project AND c.sha = p.sha
        )
        SELECT id FROM history
        """
    ).bindparams(
        bindparam("history_project", project_id),
        bindparam("history_names", list(names), type_=ARRAY(Text)),
    )
    seen = (
        select(R.commit_id)
        .where(R.commit_id == C.id, R.kind == RefKind.BRANCH.value, R.name.in_(names))
        .exists()
    )
    return seen | C.id.in_(history.columns(id=BigInteger))


def _has_results(batch_label: str | None) -> ColumnElement[bool]:
    """Whether a commit (`commit.id`) has a finished, successful output (in the batch `batch_label`)."""
    batch_match = [B.commit_id == C.id]
    if batch_label is not None:
        batch_match.append(B.label == batch_label)
    return exists(
        select(1)
        .select_from(batch_table.join(output_table, O.batch_id == B.id))
        .where(*batch_match, O.status == OutputStatus.FINISHED.value)
    )


async def latest_commit_with_results(
    session: AsyncSession,
    project_id: str,
    branch: str,
    batch_label: str | None,
    *,
    before: Commit | None = None,
) -> Commit | None:
    """The most recent commit seen on `branch` having a finished, successful output (in `batch_label`).

    `before`: neither that commit nor one authored after it (nor, when it has an authoring date, one
    without: it may be newer).
    """
    conditions = [
        C.project_id == project_id,
        on_branch(project_id, _ref_names(branch)),
        _has_results(batch_label),
    ]
    if before is not None:
        conditions.append(C.id != before.id)
        if before.authored_at is not None:
            conditions.append(C.authored_at <= before.authored_at)
    return (
        await session.execute(
            select(Commit).where(*conditions).order_by(C.authored_at.desc(), C.id.desc()).limit(1)
        )
    ).scalar_one_or_none()


ANCESTRY_DEPTH = 1_000
"""How many first-parent generations `nearest_ancestor_with_results` walks up at most."""

# The first-parent history of a commit (given by its first parent's sha), up to ANCESTRY_DEPTH
# commits, with each one's distance from the commit (1: the first parent). First parents only: a merge
# commit's reference is the branch it was merged into, not the tip it merged; and the walk is one
# chain, ANCESTRY_DEPTH rows at most, however many merges the history has.
_ANCESTRY_SQL = text(
    """
    WITH RECURSIVE ancestry(id, parent, depth) AS (
        SELECT c.id, c.parents[1], 1 FROM commit AS c
        WHERE c.project_id = :ancestry_project AND c.sha = :ancestry_parent
      UNION ALL
        SELECT c.id, c.parents[1], a.depth + 1
        FROM ancestry AS a JOIN commit AS c ON c.project_id = :ancestry_project AND c.sha = a.parent
        WHERE a.depth < :ancestry_depth
    )
    SELECT id, depth FROM ancestry
    """
)


async def nearest_ancestor_with_results(
    session: AsyncSession, project_id: str, parents: Sequence[str], branch: str, batch_label: str
) -> Commit | None:
    """The nearest commit of the first-parent history of a commit of `project_id` (whose parents are
    `parents`) that is on `branch` and has finished, successful results in `batch_label`.

    For a commit on `branch` that is its history on the branch; for a commit of another branch the
    walk reaches the fork point and goes on down `branch`. One statement, a recursive walk of at most
    `ANCESTRY_DEPTH` commits.
    """
    if not parents:
        return None
    ancestry = (
        _ANCESTRY_SQL.bindparams(
            bindparam("ancestry_project", project_id),
            bindparam("ancestry_parent", parents[0]),
            bindparam("ancestry_depth", ANCESTRY_DEPTH),
        )
        .columns(id=BigInteger, depth=Integer)
        .subquery("ancestry")
    )
    query = (
        select(Commit)
        .join(ancestry, ancestry.c.id == C.id)
        .where(on_branch(project_id, _ref_names(branch)), _has_results(batch_label))
        .order_by(ancestry.c.depth)
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def is_on_branch(session: AsyncSession, project_id: str, commit_id: int, branch: str) -> bool:
    """Whether the commit is on `branch`, as `GET /api/v2/commits?branch=` lists it."""
    query = select(exists().where(C.id == commit_id, on_branch(project_id, _ref_names(branch))))
    return bool((await session.execute(query)).scalar())


async def has_commits_on(session: AsyncSession, project_id: str, branch: str) -> bool:
    query = select(exists().where(C.project_id == project_id, on_branch(project_id, _ref_names(branch))))
    return bool((await session.execute(query)).scalar())


async def get_batch(session: AsyncSession, commit_id: int, label: str) -> Batch | None:
    return (
        await session.execute(select(Batch).where(B.commit_id == commit_id, B.label == label))
    ).scalar_one_or_none()


async def get_batch_by_id(session: AsyncSession, batch_id: int) -> Batch | None:
    return await session.get(Batch, batch_id)


async def get_or_create_batch(
    session: AsyncSession, commit_id: int, label: str, *, data: dict[str, Any] | None = None
) -> Batch:
    batch = await get_batch(session, commit_id, label)
    if batch is None:
        await session.execute(
            insert(Batch)
            .values(commit_id=commit_id, label=label, data=data or {})
            .on_conflict_do_nothing(index_elements=["commit_id", "label"])
        )
        batch = await get_batch(session, commit_id, label)
        assert batch is not None
    return batch


async def update_batch(session: AsyncSession, batch_id: int, **values: Any) -> None:
    await session.execute(update(Batch).where(B.id == batch_id).values(**values))


async def batches_of(
    session: AsyncSession, commit_ids: Sequence[int], labels: Sequence[str] | None = None
) -> list[Batch]:
    # statistics are read (and refreshed) on their own: see `take_changes`
    query = (
        select(Batch)
        .options(defer(Batch.stats))  # type: ignore[arg-type]
        .where(B.commit_id == any_id(commit_ids))
        .order_by(B.commit_id, B.created_at, B.id)
    )
    if labels is not None:
        query = query.where(B.label.in_(labels))
    return list((await session.execute(query)).scalars())


async def delete_batches(session: AsyncSession, batch_ids: Sequence[int]) -> None:
    if batch_ids:
        await session.execute(delete(Batch).where(B.id.in_(batch_ids)))


COUNTS_SQL = text(
    """
    SELECT batch_id,
           count(*) FILTER (WHERE status = 'queued')   AS queued,
           count(*) FILTER (WHERE status = 'running')  AS running,
           count(*) FILTER (WHERE status = 'finished') AS finished,
           count(*) FILTER (WHERE status = 'failed')   AS failed
    FROM output
    WHERE batch_id = ANY(:batch_ids)
    GROUP BY batch_id
    """
)

# Every metric of the finished, successful outputs; only JSON numbers a float8 can hold take part.
# (Nested CASE: PostgreSQL does not promise to evaluate AND's operands in order. OFFSET 0 fences the
# subquery, so each value is extracted and cast once, not once per aggregate.)
METRICS_SQL = text(
    """
    SELECT o.batch_id, m.key AS name,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY v.value) AS median,
           avg(v.value) AS mean, min(v.value) AS min, max(v.value) AS max, count(*) AS n
    FROM output AS o
    CROSS JOIN LATERAL jsonb_each(o.metrics) AS m(key, value)
    CROSS JOIN LATERAL (
        SELECT CASE WHEN jsonb_typeof(m.value) <> 'number' THEN NULL
                    WHEN abs(m.value::numeric) < 1e308 THEN m.value::float8
               END AS value
        OFFSET 0
    ) AS v
    WHERE o.batch_id = ANY(:batch_ids) AND o.status = 'finished' AND v.value IS NOT NULL
    GROUP BY o.batch_id, m.key
    """
)


def _stats_to_json(stats: BatchStats) -> dict[str, Any]:
    return {
        "queued": stats.queued,
        "running": stats.running,
        "finished": stats.finished,
        "failed": stats.failed,
        "metrics": {name: [m.median, m.mean, m.min, m.max, m.count] for name, m in stats.metrics.items()},
    }


def _stats_from_json(document: dict[str, Any]) -> BatchStats:
    return BatchStats(
        queued=document["queued"],
        running=document["running"],
        finished=document["finished"],
        failed=document["failed"],
        metrics={name: _metric_stats(*values) for name, values in document["metrics"].items()},
    )


def _metric_stats(median: float, mean: float, low: float, high: float, count: int) -> MetricStats:
    # jsonb gives 9e307 back as an integer's digits, which JSON reads as a Python int: floats again
    return MetricStats(float(median), float(mean), float(low), float(high), int(count))


async def mark_changed(session: AsyncSession, batch_ids: Sequence[int]) -> None:
    """Record that these batches' outputs changed (their cached statistics are out of date)."""
    if batch_ids:
        await session.execute(
            insert(BatchChange), [{"batch_id": batch_id} for batch_id in dict.fromkeys(batch_ids)]
        )


async def take_changes(session: AsyncSession, batch_ids: Sequence[int]) -> set[int]:
    """Consume the recorded changes of these batches; returns the batches that had any.

    The consumed rows stay locked until the transaction ends: a concurrent reader waits, then finds
    the statistics this transaction saved.
    """
    rows = await session.execute(
        delete(BatchChange).where(BC.batch_id == any_id(batch_ids)).returning(BC.batch_id)
    )
    return set(rows.scalars())


async def cached_stats(session: AsyncSession, batch_ids: Sequence[int]) -> dict[int, BatchStats]:
    rows = await session.execute(select(B.id, B.stats).where(B.id == any_id(batch_ids), B.stats.is_not(None)))
    return {batch_id: _stats_from_json(document) for batch_id, document in rows.all()}


async def compute_stats(session: AsyncSession, batch_ids: Sequence[int]) -> dict[int, BatchStats]:
    """Status counts and median/mean/min/max of every metric, computed by PostgreSQL."""
    stats = {batch_id: BatchStats() for batch_id in batch_ids}
    ids = list(batch_ids)
    for row in await session.execute(COUNTS_SQL, {"batch_ids": ids}):
        stats[row.batch_id] = BatchStats(
            queued=row.queued, running=row.running, finished=row.finished, failed=row.failed
        )
    for row in await session.execute(METRICS_SQL, {"batch_ids": ids}):
        stats[row.batch_id].metrics[row.name] = MetricStats(
            median=row.median, mean=row.mean, min=row.min, max=row.max, count=row.n
        )
    return stats


async def save_stats(session: AsyncSession, stats: dict[int, BatchStats]) -> None:
    await session.execute(
        batch_table.update().where(B.id == bindparam("b_id")).values(stats=bindparam("b_stats")),
        [{"b_id": batch_id, "b_stats": _stats_to_json(value)} for batch_id, value in stats.items()],
    )


def _contains(fragment: str) -> str:
    """An ILIKE pattern matching `fragment` anywhere, its own % and _ taken literally."""
    escaped = fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _filters(project_id: str, filters: CommitFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [C.project_id == project_id]
    if filters.branch:
        conditions.append(on_branch(project_id, _ref_names(filters.branch)))
    if filters.tag:
        conditions.append(
            exists().where(R.commit_id == C.id, R.kind == RefKind.TAG.value, R.name == filters.tag)
        )
    if filters.committer:
        pattern = _contains(filters.committer)
        conditions.append(
            or_(
                C.committer_name.ilike(pattern, escape="\\"),
                C.committer_email.ilike(pattern, escape="\\"),
                C.author_name.ilike(pattern, escape="\\"),
                C.author_email.ilike(pattern, escape="\\"),
            )
        )
    if filters.since:
        conditions.append(C.authored_at >= filters.since)
    if filters.until:
        conditions.append(C.authored_at < filters.until)
    if filters.batch_label:
        conditions.append(exists().where(B.commit_id == C.id, B.label == filters.batch_label))
    if filters.text:
        pattern = _contains(filters.text)
        conditions.append(
            or_(
                C.message.ilike(pattern, escape="\\"),
                C.sha.startswith(filters.text.lower(), autoescape=True),
                exists().where(R.commit_id == C.id, R.name.ilike(pattern, escape="\\")),
            )
        )
    return conditions


async def list_commits(
    session: AsyncSession,
    project_id: str,
    filters: CommitFilters,
    *,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[Commit]:
    """Newest first (authored time, then id), keyset-paginated after `after`."""
    conditions = _filters(project_id, filters)
    if after is not None:
        authored_at, commit_id = after
        conditions.append(
            or_(C.authored_at < authored_at, and_(C.authored_at == authored_at, C.id < commit_id))
        )
    query = select(Commit).where(*conditions).order_by(C.authored_at.desc(), C.id.desc()).limit(limit)
    return list((await session.execute(query)).scalars())


@dataclass(frozen=True)
class PageBatch:
    """A batch as a page of commits shows it; `stats` None: out of date (its outputs changed since)."""

    id: int
    label: str
    created_at: datetime
    data: dict[str, Any]
    stats: BatchStats | None


@dataclass(frozen=True)
class PageCommit:
    """A commit of a page, with its refs and batches, as one row of `commit_page`."""

    commit: dict[str, Any]  # the commit's columns
    branches: list[str]
    tags: list[str]
    batches: list[PageBatch]


def _json_list(element: Any, *order_by: Any, where: ColumnElement[bool] | None = None) -> Any:
    """`json_agg(element ORDER BY ...) [FILTER (WHERE ...)]`, `[]` when there is no row."""
    aggregate = func.json_agg(aggregate_order_by(element, *order_by))
    filtered = aggregate if where is None else aggregate.filter(where)
    return func.coalesce(filtered, literal_column("'[]'::json"))


async def commit_page(
    session: AsyncSession,
    project_id: str,
    filters: CommitFilters,
    *,
    after: tuple[datetime, int] | None,
    limit: int,
    labels: Sequence[str] | None,
) -> list[PageCommit]:
    """`list_commits` with each commit's refs and batches (and their cached statistics): one statement.

    PostgreSQL gathers each commit's refs and batches as JSON, so a page costs one round trip and no
    ORM objects. A batch whose outputs changed since its statistics were cached comes with `stats`
    None: `service.batch_statistics` refreshes those.
    """
    conditions = _filters(project_id, filters)
    if after is not None:
        authored_at, commit_id = after
        conditions.append(
            or_(C.authored_at < authored_at, and_(C.authored_at == authored_at, C.id < commit_id))
        )
    page = (
        select(*_PAGE_COLUMNS)
        .where(*conditions)
        .order_by(C.authored_at.desc(), C.id.desc())
        .limit(limit)
        .subquery("page")
    )
    refs = (
        select(
            func.json_build_array(
                *(
                    _json_list(R.name, R.first_seen_at, R.name, where=R.kind == kind.value)
                    for kind in (RefKind.BRANCH, RefKind.TAG)
                )
            )
        )
        .where(R.commit_id == page.c.id)
        .scalar_subquery()
    )
    out_of_date = exists().where(BC.batch_id == B.id)
    batch = func.json_build_array(
        B.id, B.label, B.created_at, B.data, case((out_of_date, null()), else_=B.stats)
    )
    batch_match = [B.commit_id == page.c.id]
    if labels is not None:
        batch_match.append(B.label.in_(labels))
    batches = select(_json_list(batch, B.created_at, B.id)).where(*batch_match).scalar_subquery()
    query = select(page, refs.label("refs"), batches.label("batches")).order_by(
        page.c.authored_at.desc(), page.c.id.desc()
    )
    found = []
    for row in (await session.execute(query)).mappings():
        branches, tags = row["refs"]
        found.append(
            PageCommit(
                commit={name: row[name] for name in _PAGE_COLUMN_NAMES},
                branches=branches,
                tags=tags,
                batches=[
                    PageBatch(
                        id=batch_id,
                        label=label,
                        created_at=datetime.fromisoformat(created_at),
                        data=data,
                        stats=None if stats is None else _stats_from_json(stats),
                    )
                    for batch_id, label, created_at, data, stats in row["batches"]
                ],
            )
        )
    return found


_PAGE_COLUMNS = (
    C.id,
    C.project_id,
    C.sha,
    C.message,
    C.author_name,
    C.author_email,
    C.committer_name,
    C.committer_email,
    C.authored_at,
    C.committed_at,
    C.parents,
    C.latest_output_at,
)
_PAGE_COLUMN_NAMES = tuple(column.name for column in _PAGE_COLUMNS)


async def branches(session: AsyncSession, project_id: str) -> list[str]:
    rows = await session.execute(
        select(R.name)
        .join(commit_table, C.id == R.commit_id)
        .where(C.project_id == project_id, R.kind == RefKind.BRANCH.value)
        .group_by(R.name)
        .order_by(R.name)
    )
    return [name for (name,) in rows]
