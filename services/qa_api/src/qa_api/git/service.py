"""Applying what git says about a project: commits, refs moved, created or deleted, in one transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from qa_api.git import repository
from qa_api.models import RefKind
from qa_api.projects import repository as projects_repository
from qahub_shared.errors import ErrorDetail, InvalidInput
from qahub_shared.schemas.git import GitCommit, GitUpdates, GitUpdatesApplied


async def apply_updates(session: AsyncSession, updates: GitUpdates) -> GitUpdatesApplied:
    """Record the commits, then each ref update; all or nothing.

    A ref's new tip, and the commits it adds or removes, must be among `updates.commits` or already
    known (422 naming them otherwise). The project is created on first sight. Its config follows its
    reference branch, as with the `qa` CLI: when that branch moves to a commit with a config, the
    project takes it.
    """
    project = updates.project
    async with session.begin():
        await projects_repository.save_project_config(
            session, project, config=None, metric_definitions=None, replace=False
        )
        created, updated = await repository.upsert_commits(session, project, updates.commits)
        named = {sha for ref in updates.refs for sha in (ref.sha, *ref.added, *ref.removed) if sha}
        ids = await repository.commit_ids(session, project, sorted(named))
        unknown = sorted(named - ids.keys())
        if unknown:
            raise InvalidInput(
                f"refs: {len(unknown)} commit(s) are neither in commits nor known to project {project!r}",
                details=[
                    ErrorDetail(loc=["body", "refs"], message=f"unknown commit {sha}") for sha in unknown[:20]
                ],
            )
        configs = {commit.sha: commit for commit in updates.commits}
        refs_set = refs_deleted = 0
        for ref in updates.refs:
            kind = RefKind(ref.kind.value)
            if ref.sha is None:
                refs_deleted += await repository.delete_ref(session, project, kind, ref.name)
                continue
            refs_set += await repository.set_ref(
                session, project, kind, ref.name, ids[ref.sha], forced=ref.forced
            )
            await repository.remove_seen_on(session, [ids[sha] for sha in ref.removed], kind, ref.name)
            await repository.add_seen_on(session, [ids[sha] for sha in (*ref.added, ref.sha)], kind, ref.name)
            if kind is RefKind.BRANCH:
                await _follow_reference_branch(session, project, ref.name, configs.get(ref.sha))
    return GitUpdatesApplied(
        project=project,
        commits_created=created,
        commits_updated=updated,
        refs_set=refs_set,
        refs_deleted=refs_deleted,
    )


async def _follow_reference_branch(
    session: AsyncSession, project: str, branch: str, tip: GitCommit | None
) -> None:
    if tip is None or tip.config is None:
        return
    settings = tip.config.get("project")
    reference = settings.get("reference_branch") if isinstance(settings, dict) else None
    await projects_repository.save_project_config(
        session, project, config=tip.config, metric_definitions=None, replace=reference == branch
    )
