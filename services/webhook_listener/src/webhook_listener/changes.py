"""What qa_api must be told so its picture of a repository matches the mirror: `GitUpdates` per project.

The listener remembers where each branch and tag pointed when qa_api last heard of it (`sent_ref`). After
a fetch, every ref whose tip differs is an update, computed from the repository (never from a payload):

    updated ref     added = git rev-list old..new; when old is not an ancestor of new, the push was
                    forced: forced = true, removed = git rev-list new..old
    new ref         added = the commits of new that no other known ref had (capped, newest first)
    deleted ref     sha = null, for every project the ref was sent to

The projects of a commit are the repository (`group/repo`) and each folder whose `qaboard.yaml` (or
`qatools.yaml`) exists at that commit (`group/repo/sub/dir`), with its merged config. A project gets the
commits it has, and the ref updates whose tip has it; a ref whose tip no longer has a subproject is deleted
from that subproject.
Everything here blocks (it reads the mirror): run it in a worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from qahub_shared.schemas.git import (
    MAX_COMMITS,
    MAX_REF_COMMITS,
    MAX_REFS,
    GitCommit,
    GitRefKind,
    GitRefUpdate,
    GitUpdates,
)
from qahub_shared.schemas.identifiers import ProjectId
from webhook_listener import mirror
from webhook_listener.mirror import CommitFacts, RefKey
from webhook_listener.qaboard_config import merged_config

logger = logging.getLogger(__name__)

_PROJECT_ID: TypeAdapter[str] = TypeAdapter(ProjectId)
MAX_REF_NAME = 255
"""qa_api's longest branch or tag name (`Label`)."""
MAX_SHAS_PER_BODY = 20_000


@dataclass(frozen=True, slots=True)
class SentRef:
    """Where a ref pointed when qa_api was last told, and the projects it was told to."""

    sha: str
    projects: tuple[str, ...]


@dataclass(slots=True)
class Plan:
    """The bodies to send, in order, and what `sent_ref` becomes for each changed ref once every project
    it concerns has accepted its update.

    Each project's bodies are consecutive: its commits (oldest first), then its ref updates, which may
    name those commits. Projects do not depend on each other.
    """

    updates: list[GitUpdates] = field(default_factory=list)
    refs_after: dict[RefKey, SentRef | None] = field(default_factory=dict)
    """Changed refs only; None: the ref is gone."""
    targets: dict[RefKey, frozenset[str]] = field(default_factory=dict)
    """Changed ref → the projects its update is sent to (set in, or deleted from)."""


def _subproject(repository: str, folder: str) -> str | None:
    try:
        return _PROJECT_ID.validate_python(f"{repository}/{folder}")
    except ValidationError:
        logger.warning("ignoring the subproject folder %r: not a valid project id", folder)
        return None


def _projects_of(repository: str, facts: CommitFacts) -> dict[str, GitCommit]:
    """Project id → this commit as that project sees it (its merged config)."""
    seen: dict[str, GitCommit] = {}
    base = GitCommit(
        sha=facts.sha,
        parents=facts.parents,
        author_name=facts.author_name[:1024] or None,
        author_email=facts.author_email[:1024] or None,
        committer_name=facts.committer_name[:1024] or None,
        committer_email=facts.committer_email[:1024] or None,
        authored_at=facts.authored_at,
        committed_at=facts.committed_at,
        message=facts.message[:100_000],
    )
    seen[repository] = base.model_copy(update={"config": merged_config(facts.configs, "")})
    for folder in facts.configs:
        if not folder:
            continue
        project = _subproject(repository, folder)
        if project is not None:
            seen[project] = base.model_copy(update={"config": merged_config(facts.configs, folder)})
    return seen


@dataclass(slots=True)
class _RefChange:
    key: RefKey
    new: str | None
    forced: bool = False
    added: list[str] = field(default_factory=list)
    """What the update brought onto the ref, newest first, as the contract caps it (`MAX_REF_COMMITS`)."""
    brought: list[str] = field(default_factory=list)
    """Every commit the update brought (a push to an existing ref is not capped): all are sent, so the
    branch's history in qa_api (through parents) has no gap."""
    removed: list[str] = field(default_factory=list)


# the commits one push to an existing ref may bring (a whole imported history, say); past it, a
# reconciliation after the push sends no more: the history through parents would have a gap
MAX_PUSH_COMMITS = 1_000_000


def plan(
    path: Path,
    repository: str,
    sent: dict[RefKey, SentRef],
    *,
    new_ref_max_commits: int,
) -> Plan:
    """Compare the mirror at `path` with `sent` and build the updates of every project of `repository`."""
    current = {key: sha for key, sha in mirror.read_refs(path).items() if _nameable(key)}
    branch_tips = {sha for key, sha in current.items() if key.kind == "branch"}
    changes: list[_RefChange] = []
    for key in sorted(set(current) | set(sent), key=lambda k: (k.kind, k.name)):
        before = sent.get(key)
        after = current.get(key)
        if before is not None and before.sha == after:
            continue
        change = _RefChange(key=key, new=after)
        if after is not None:
            if before is None:
                others = {ref.sha for other, ref in sent.items() if other != key}
                if key.kind == "tag":
                    # a tag names one commit: only commits no branch reaches are new with it
                    others |= branch_tips
                change.brought = mirror.rev_list(path, after, exclude=others, max_count=new_ref_max_commits)
            else:
                change.brought = mirror.rev_list(
                    path, after, exclude=[before.sha], max_count=MAX_PUSH_COMMITS
                )
                if mirror.is_ancestor(path, before.sha, after) is False:
                    change.forced = True
                    change.removed = mirror.rev_list(
                        path, before.sha, exclude=[after], max_count=MAX_REF_COMMITS
                    )
            change.added = change.brought[:MAX_REF_COMMITS]
        changes.append(change)
    if not changes:
        return Plan()

    # every commit a ref update names, oldest first: qa_api accepts a ref update only when it knows them
    # all (tips may be older than a capped history; removed commits are sent again, which is harmless)
    wanted: list[str] = []
    listed: set[str] = set()
    for change in changes:
        named = [*reversed(change.removed), *reversed(change.brought), *([change.new] if change.new else [])]
        for sha in named:
            if sha not in listed:
                listed.add(sha)
                wanted.append(sha)
    facts = mirror.describe_commits(path, wanted)
    per_commit = {fact.sha: _projects_of(repository, fact) for fact in facts}

    commits_of: dict[str, list[GitCommit]] = {}
    for fact in facts:
        for project, commit in per_commit[fact.sha].items():
            commits_of.setdefault(project, []).append(commit)

    refs_of: dict[str, list[GitRefUpdate]] = {}
    result = Plan()
    for change in changes:
        kind = GitRefKind(change.key.kind)
        before = sent.get(change.key)
        had = set(before.projects) if before else set()
        has = set(per_commit[change.new]) if change.new else set()
        for project in sorted(has):
            refs_of.setdefault(project, []).append(
                GitRefUpdate(
                    kind=kind,
                    name=change.key.name,
                    sha=change.new,
                    forced=change.forced and project in had,
                    added=[sha for sha in change.added if project in per_commit.get(sha, {})],
                    removed=[sha for sha in change.removed if project in per_commit.get(sha, {})]
                    if project in had
                    else [],
                )
            )
        for project in sorted(had - has):
            refs_of.setdefault(project, []).append(GitRefUpdate(kind=kind, name=change.key.name, sha=None))
        result.refs_after[change.key] = SentRef(change.new, tuple(sorted(has))) if change.new else None
        result.targets[change.key] = frozenset(has | had)

    # commits first (oldest first, in bodies of MAX_COMMITS), then the refs that point at them
    for project in sorted(set(commits_of) | set(refs_of), key=lambda p: (p.count("/"), p)):
        commits = commits_of.get(project, [])
        refs = refs_of.get(project, [])
        for batch in _commit_batches(commits):
            result.updates.append(GitUpdates(project=project, commits=batch))
        for group in _bounded(refs):
            result.updates.append(GitUpdates(project=project, refs=group))
    return result


def _nameable(key: RefKey) -> bool:
    if 0 < len(key.name) <= MAX_REF_NAME:
        return True
    logger.warning("ignoring the %s %r: its name is longer than qa_api stores", key.kind, key.name[:80])
    return False


# qa_api's default body cap is 10 MiB: a body of commits stays well under it, whatever their configs
MAX_COMMIT_BYTES_PER_BODY = 4 * 1024 * 1024


def _commit_batches(commits: list[GitCommit]) -> Iterator[list[GitCommit]]:
    """Commits in order, in groups of at most MAX_COMMITS and about MAX_COMMIT_BYTES_PER_BODY of JSON."""
    group: list[GitCommit] = []
    size = 0
    for commit in commits:
        weight = len(commit.model_dump_json())
        if group and (len(group) == MAX_COMMITS or size + weight > MAX_COMMIT_BYTES_PER_BODY):
            yield group
            group, size = [], 0
        group.append(commit)
        size += weight
    if group:
        yield group


def _bounded(refs: list[GitRefUpdate]) -> Iterator[list[GitRefUpdate]]:
    """Ref updates in groups of at most MAX_REFS, naming at most MAX_SHAS_PER_BODY commits each (about
    a megabyte of JSON), so a first sync of a repository with many refs stays within qa_api's body cap."""
    group: list[GitRefUpdate] = []
    named = 0
    for ref in refs:
        size = len(ref.added) + len(ref.removed) + 1
        if group and (len(group) == MAX_REFS or named + size > MAX_SHAS_PER_BODY):
            yield group
            group, named = [], 0
        group.append(ref)
        named += size
    if group:
        yield group
