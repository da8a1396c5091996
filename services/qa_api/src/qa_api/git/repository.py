"""SQL for what git says about a project: commits as git records them, and where its refs point."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Boolean,
    Text,
    any_,
    bindparam,
    delete,
    func,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from qa_api.db import any_id
from qa_api.models import RefKind, commit_ref_table, commit_table, git_ref_table
from qahub_shared.schemas.git import GitCommit

C = commit_table.c
R = commit_ref_table.c
G = git_ref_table.c

# The columns git is the authority on; a commit the `qa` CLI created first gets them from git.
_GIT_FIELDS = (
    "message",
    "author_name",
    "author_email",
    "committer_name",
    "committer_email",
    "authored_at",
    "committed_at",
    "parents",
)


async def upsert_commits(
    session: AsyncSession, project_id: str, commits: Sequence[GitCommit]
) -> tuple[int, int]:
    """Insert new commits and bring known ones up to git's facts; returns (created, updated).

    A commit whose git fields already are what git says is left alone (and not counted), so applying
    the same commits twice changes nothing. A config git found fills the commit's `qatools_config`
    when the `qa` CLI sent none.
    """
    if not commits:
        return 0, 0
    rows = [
        {
            "project_id": project_id,
            "sha": commit.sha,
            "message": commit.message,
            "author_name": commit.author_name,
            "author_email": commit.author_email,
            "committer_name": commit.committer_name,
            "committer_email": commit.committer_email,
            "authored_at": commit.authored_at,
            "committed_at": commit.committed_at,
            "parents": commit.parents,
            "data": {} if commit.config is None else {"qatools_config": commit.config},
        }
        for commit in {commit.sha: commit for commit in commits}.values()
    ]
    insertion = insert(commit_table).values(rows)
    excluded = insertion.excluded
    mine = tuple_(*(C[name] for name in _GIT_FIELDS))
    theirs = tuple_(*(excluded[name] for name in _GIT_FIELDS))
    # the CLI's own config (what its runs used) wins over git's
    data = excluded.data.op("||")(C.data)
    upsert = insertion.on_conflict_do_update(
        index_elements=["project_id", "sha"],
        set_={name: excluded[name] for name in _GIT_FIELDS} | {"data": data},
        where=mine.is_distinct_from(theirs) | data.is_distinct_from(C.data),
    )
    # xmax is 0 in a row version this statement inserted (not updated)
    inserted = literal_column("xmax = 0", type_=Boolean).label("created")
    results: list[bool] = list((await session.execute(upsert.returning(inserted))).scalars())
    created = sum(1 for was_created in results if was_created)
    return created, len(results) - created


async def commit_ids(session: AsyncSession, project_id: str, shas: Sequence[str]) -> dict[str, int]:
    """The ids of the project's commits among `shas`, by sha."""
    if not shas:
        return {}
    wanted = bindparam(None, sorted(set(shas)), type_=ARRAY(Text))
    rows = await session.execute(select(C.sha, C.id).where(C.project_id == project_id, C.sha == any_(wanted)))
    return dict(rows.all())


async def set_ref(
    session: AsyncSession, project_id: str, kind: RefKind, name: str, commit_id: int, *, forced: bool
) -> bool:
    """Point the ref at the commit; False when it already pointed there."""
    values: dict[str, Any] = {
        "project_id": project_id,
        "kind": kind.value,
        "name": name,
        "commit_id": commit_id,
    }
    if forced:
        values["forced_at"] = func.now()
    insertion = insert(git_ref_table).values(values)
    changes = {key: insertion.excluded[key] for key in values if key not in ("project_id", "kind", "name")}
    statement = insertion.on_conflict_do_update(
        index_elements=["project_id", "kind", "name"],
        set_=changes | {"updated_at": func.now()},
        where=G.commit_id.is_distinct_from(insertion.excluded.commit_id),
    ).returning(G.commit_id)
    return (await session.execute(statement)).first() is not None


async def delete_ref(session: AsyncSession, project_id: str, kind: RefKind, name: str) -> bool:
    """Forget the ref, and that any commit of the project was on it; False when it did not exist."""
    deleted = await session.execute(
        delete(git_ref_table)
        .where(G.project_id == project_id, G.kind == kind.value, G.name == name)
        .returning(G.name)
    )
    await session.execute(
        delete(commit_ref_table).where(
            R.kind == kind.value,
            R.name == name,
            R.commit_id.in_(select(C.id).where(C.project_id == project_id)),
        )
    )
    return deleted.first() is not None


async def add_seen_on(session: AsyncSession, commit_ids: Sequence[int], kind: RefKind, name: str) -> None:
    """Record that these commits are on the ref (as a CI run reporting them there would)."""
    if commit_ids:
        await session.execute(
            insert(commit_ref_table)
            .values([{"commit_id": commit_id, "kind": kind.value, "name": name} for commit_id in commit_ids])
            .on_conflict_do_nothing()
        )


async def remove_seen_on(session: AsyncSession, commit_ids: Sequence[int], kind: RefKind, name: str) -> None:
    """Record that these commits are no longer on the ref (a forced update took them off)."""
    if commit_ids:
        await session.execute(
            delete(commit_ref_table).where(
                R.commit_id == any_id(commit_ids), R.kind == kind.value, R.name == name
            )
        )
