"""What the webhook listener tells qa_api about a repository, as git has it: `POST /api/v2/git/updates`.

One `GitUpdates` body carries, for one project (a repository, or a subproject `group/repo/sub/dir` whose
`qaboard.yaml` exists at those commits), the commits a push (or a reconciliation) brought and the refs
it moved, created or deleted. qa_api applies it in one transaction, idempotently: sending the same
updates twice changes nothing the second time, so the listener may retry until it gets a 2xx.

    commits   new (or better known) commits: sha, parents, people, times, message, config
    refs      for each branch or tag: where it points now (`sha`), or `sha: null` when it was deleted;
              `added`: the commits this update brought onto the ref (`git rev-list before..after`, or for
              a new ref the commits no other ref had), `removed`: the commits a forced update took off
              it (`git rev-list after..before`). Both are capped by the sender (`MAX_REF_COMMITS`).

A ref's `sha` must be one of `commits` or a commit qa_api already knows; parents need not be known.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from qahub_shared.schemas.documents import storable_problem
from qahub_shared.schemas.identifiers import CommitSha, Label, ProjectId

MAX_COMMITS = 1000
"""Commits in one `GitUpdates`: a sender splits a larger push into several bodies, oldest first."""
MAX_REFS = 100
MAX_REF_COMMITS = 10_000
"""`added` or `removed` shas of one ref update."""


class GitRefKind(StrEnum):
    BRANCH = "branch"
    TAG = "tag"


class GitCommit(BaseModel):
    """A commit as git records it."""

    model_config = ConfigDict(extra="forbid")

    sha: CommitSha = Field(examples=["99fcebb1272352a154ae6c33b5bb3ef25549144f"])
    # octopus merges exist with dozens of parents (Linux has one of 66)
    parents: list[CommitSha] = Field(default_factory=list, max_length=1024)
    author_name: str | None = Field(default=None, max_length=1024)
    author_email: str | None = Field(default=None, max_length=1024)
    committer_name: str | None = Field(default=None, max_length=1024)
    committer_email: str | None = Field(default=None, max_length=1024)
    authored_at: AwareDatetime
    committed_at: AwareDatetime
    message: str = Field(default="", max_length=100_000)
    config: dict[str, Any] | None = Field(
        default=None,
        description="The project's QA-Board config at this commit (its `qaboard.yaml`, merged over its "
        "ancestors' for a subproject), when the listener found one.",
    )


class GitRefUpdate(BaseModel):
    """Where a branch or tag points after the update; `sha` null: the ref was deleted."""

    model_config = ConfigDict(extra="forbid")

    kind: GitRefKind
    name: Label = Field(examples=["main"], description="Without `refs/heads/` or `refs/tags/`.")
    sha: CommitSha | None = Field(description="The commit the ref points at (an annotated tag: its commit).")
    forced: bool = Field(default=False, description="The previous tip is not an ancestor of the new one.")
    added: list[CommitSha] = Field(default_factory=list, max_length=MAX_REF_COMMITS)
    removed: list[CommitSha] = Field(default_factory=list, max_length=MAX_REF_COMMITS)

    @model_validator(mode="after")
    def _deletion_moves_nothing(self) -> Self:
        if self.sha is None and self.added:
            raise ValueError("a deleted ref (sha null) cannot add commits")
        return self


class GitUpdates(BaseModel):
    """Commits and ref updates of one project, applied together."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        # configs are kept as JSONB: no NaN, no NUL, no lone surrogate, bounded depth (422, not a 500)
        problem = storable_problem(data) if isinstance(data, dict) else None
        if problem:
            raise ValueError(problem)
        return data

    project: ProjectId = Field(examples=["group/repo"])
    commits: list[GitCommit] = Field(default_factory=list, max_length=MAX_COMMITS)
    refs: list[GitRefUpdate] = Field(default_factory=list, max_length=MAX_REFS)

    @model_validator(mode="after")
    def _one_update_per_ref(self) -> Self:
        seen = set()
        for ref in self.refs:
            key = (ref.kind, ref.name)
            if key in seen:
                raise ValueError(f"refs: {ref.kind.value} {ref.name!r} is updated twice")
            seen.add(key)
        return self


class GitUpdatesApplied(BaseModel):
    """What `POST /api/v2/git/updates` changed (zeros when the same updates were applied before)."""

    project: str
    commits_created: int
    commits_updated: int
    refs_set: int
    refs_deleted: int
