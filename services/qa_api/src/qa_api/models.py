"""The tables of qa_api: projects → commits (+ the refs they were seen on) → batches → outputs.

Table models do not validate (SQLModel); values reach them only through the validated schemas of the
domain packages. JSON documents the `qa` CLI sends (configs, metrics, run data) are stored as JSONB.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from qa_api import db  # noqa: F401  (installs the constraint naming convention first)


def _json(default: str = "{}") -> Column[Any]:
    return Column(JSONB, nullable=False, server_default=text(f"'{default}'::jsonb"))


def _created_at() -> Column[Any]:
    return Column(DateTime(timezone=True), nullable=False, server_default=func.now())


def _id() -> Column[Any]:
    return Column(BigInteger, Identity(), primary_key=True)


class OutputStatus(StrEnum):
    """Where a run is in its lifecycle; QA-Board spells it with is_pending / is_running / is_failed."""

    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"


class RefKind(StrEnum):
    BRANCH = "branch"
    TAG = "tag"


class Project(SQLModel, table=True):
    """A project, or a monorepo subproject (`group/repo/sub/dir`)."""

    __tablename__ = "project"

    id: str = Field(sa_column=Column(Text, primary_key=True))
    config: dict[str, Any] = Field(default_factory=dict, sa_column=_json())
    metric_definitions: dict[str, Any] = Field(default_factory=dict, sa_column=_json())
    created_at: datetime | None = Field(default=None, sa_column=_created_at())
    updated_at: datetime | None = Field(default=None, sa_column=_created_at())


class Commit(SQLModel, table=True):
    __tablename__ = "commit"
    __table_args__ = (
        UniqueConstraint("project_id", "sha"),
        # newest-first listings and "latest commit with results" walk this index
        Index("ix_commit_project_id_authored_at", "project_id", text("authored_at DESC"), text("id DESC")),
    )

    id: int | None = Field(default=None, sa_column=_id())
    project_id: str = Field(
        sa_column=Column(Text, ForeignKey("project.id", ondelete="CASCADE"), nullable=False)
    )
    # "C" collation: `sha LIKE 'abc%'` (short-sha lookups) uses the unique index on any server locale.
    sha: str = Field(sa_column=Column(Text(collation="C"), nullable=False))
    message: str | None = Field(default=None, sa_column=Column(Text))
    author_name: str | None = Field(default=None, sa_column=Column(Text))
    author_email: str | None = Field(default=None, sa_column=Column(Text))
    committer_name: str | None = Field(default=None, sa_column=Column(Text))
    committer_email: str | None = Field(default=None, sa_column=Column(Text))
    authored_at: datetime | None = Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    committed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    parents: list[str] = Field(
        default_factory=list,
        sa_column=Column(ARRAY(Text), nullable=False, server_default=text("'{}'::text[]")),
    )
    # where the CLI stores the commit's outputs and artifacts, and what it sent about the commit
    outputs_dir: str | None = Field(default=None, sa_column=Column(Text))
    artifacts_dir: str | None = Field(default=None, sa_column=Column(Text))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=_json())
    created_at: datetime | None = Field(default=None, sa_column=_created_at())
    # Bumped whenever one of the commit's outputs is written: orders "latest results" cheaply.
    latest_output_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class CommitRef(SQLModel, table=True):
    """A branch or tag a commit was seen on: every one of them, not only the first."""

    __tablename__ = "commit_ref"
    __table_args__ = (
        CheckConstraint("kind IN ('branch', 'tag')", name="kind"),
        Index("ix_commit_ref_kind_name", "kind", "name"),
    )

    commit_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("commit.id", ondelete="CASCADE"), primary_key=True)
    )
    kind: str = Field(sa_column=Column(Text, primary_key=True))
    name: str = Field(sa_column=Column(Text, primary_key=True))
    first_seen_at: datetime | None = Field(default=None, sa_column=_created_at())


class GitRef(SQLModel, table=True):
    """Where a branch or tag of a project points as git has it (from the webhook listener).

    A branch's history is every commit its tip reaches through `commit.parents`; `commit_ref` keeps
    what a commit was seen on (by CI runs, and by the pushes that brought it).
    """

    __tablename__ = "git_ref"
    __table_args__ = (CheckConstraint("kind IN ('branch', 'tag')", name="kind"),)

    project_id: str = Field(
        sa_column=Column(Text, ForeignKey("project.id", ondelete="CASCADE"), primary_key=True)
    )
    kind: str = Field(sa_column=Column(Text, primary_key=True))
    name: str = Field(sa_column=Column(Text, primary_key=True))
    commit_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("commit.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    updated_at: datetime | None = Field(default=None, sa_column=_created_at())
    # the last time the ref moved to a commit that does not descend from where it was (a force push)
    forced_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class Batch(SQLModel, table=True):
    """The outputs of one `qa batch` label on one commit."""

    __tablename__ = "batch"
    __table_args__ = (UniqueConstraint("commit_id", "label"),)

    id: int | None = Field(default=None, sa_column=_id())
    commit_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("commit.id", ondelete="CASCADE"), nullable=False)
    )
    label: str = Field(sa_column=Column(Text, nullable=False))
    batch_dir: str | None = Field(default=None, sa_column=Column(Text))
    # command id → what `qa batch` sent about that invocation (argv, runner, job url...)
    commands: dict[str, Any] = Field(default_factory=dict, sa_column=_json())
    # configuration overrides and `qa optimize` state (iteration, objective, best so far...)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=_json())
    # status counts and per-metric aggregates of the outputs, computed by PostgreSQL; null, or
    # listed in batch_change, when out of date
    stats: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
    created_at: datetime | None = Field(default=None, sa_column=_created_at())


class BatchChange(SQLModel, table=True):
    """A change to a batch's outputs that its cached `stats` do not reflect yet.

    Writers only append here (no row shared between concurrent runs of a batch, so they never wait on
    each other); the next reader of the batch's statistics consumes the rows and recomputes.
    """

    __tablename__ = "batch_change"

    id: int | None = Field(default=None, sa_column=_id())
    batch_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("batch.id", ondelete="CASCADE"), nullable=False, index=True)
    )


class TestInput(SQLModel, table=True):
    """An input a run works on: a path in a database (a folder of recordings, images...)."""

    __tablename__ = "test_input"
    __table_args__ = (UniqueConstraint("database", "path"),)

    id: int | None = Field(default=None, sa_column=_id())
    database: str = Field(sa_column=Column(Text, nullable=False))
    path: str = Field(sa_column=Column(Text, nullable=False))
    metadata_: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    )
    created_at: datetime | None = Field(default=None, sa_column=_created_at())


class Output(SQLModel, table=True):
    """One run: a test input, on a platform, with configurations and extra parameters.

    `run_key` is a digest of (platform, configurations, extra_parameters): with the batch and the test
    input it forms the unique key, so the same run can never be stored twice.
    """

    __tablename__ = "output"
    __table_args__ = (
        UniqueConstraint("batch_id", "test_input_id", "run_key"),
        # status counts per batch are index-only scans of this
        Index("ix_output_batch_id_status", "batch_id", "status"),
        CheckConstraint("status IN ('queued', 'running', 'finished', 'failed')", name="status"),
    )

    id: int | None = Field(default=None, sa_column=_id())
    batch_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("batch.id", ondelete="CASCADE"), nullable=False)
    )
    test_input_id: int = Field(
        sa_column=Column(
            BigInteger,
            ForeignKey("test_input.id", ondelete="RESTRICT"),
            nullable=False,
            index=True,
        )
    )
    run_key: str = Field(sa_column=Column(Text, nullable=False))
    platform: str = Field(sa_column=Column(Text, nullable=False))
    configurations: list[Any] = Field(default_factory=list, sa_column=_json("[]"))
    extra_parameters: dict[str, Any] = Field(default_factory=dict, sa_column=_json())
    status: str = Field(sa_column=Column(Text, nullable=False))
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=_json())
    params: dict[str, Any] = Field(default_factory=dict, sa_column=_json())
    data: dict[str, Any] = Field(default_factory=dict, sa_column=_json())
    output_type: str | None = Field(default=None, sa_column=Column(Text))
    output_dir: str | None = Field(default=None, sa_column=Column(Text))
    job_type: str | None = Field(default=None, sa_column=Column(Text))
    storage_size: int | None = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime | None = Field(default=None, sa_column=_created_at())
    updated_at: datetime | None = Field(default=None, sa_column=_created_at())


class Milestone(SQLModel, table=True):
    """A point of comparison a project shares (a commit, a batch, notes), under a key."""

    __tablename__ = "milestone"

    project_id: str = Field(
        sa_column=Column(Text, ForeignKey("project.id", ondelete="CASCADE"), primary_key=True)
    )
    key: str = Field(sa_column=Column(Text, primary_key=True))
    # free-form, as QA-Board's web app writes it: {"commit": sha, "batch": label, "label": ..., "notes": ...}
    data: dict[str, Any] = Field(default_factory=dict, sa_column=_json())
    created_at: datetime | None = Field(default=None, sa_column=_created_at())
    updated_at: datetime | None = Field(default=None, sa_column=_created_at())


class User(SQLModel, table=True):
    """A person (or a service account) who logs in with a password and owns API tokens."""

    __tablename__ = "app_user"

    id: int | None = Field(default=None, sa_column=_id())
    # lower case, validated by the schema: one spelling per person
    username: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    password_hash: str = Field(sa_column=Column(Text, nullable=False))
    # what the user's sessions and tokens may hold at most
    scopes: list[str] = Field(default_factory=list, sa_column=Column(ARRAY(Text), nullable=False))
    projects: list[str] | None = Field(default=None, sa_column=Column(ARRAY(Text)))
    created_at: datetime | None = Field(default=None, sa_column=_created_at())
    disabled_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class ApiToken(SQLModel, table=True):
    """A token issued by qa_api: its id is the JWT's `jti`. The token itself is never stored."""

    __tablename__ = "api_token"
    __table_args__ = (
        CheckConstraint("kind IN ('session', 'api')", name="kind"),
        Index("ix_api_token_user_id_created_at", "user_id", "created_at"),
        # a user's expired tokens, dropped when they get a new one (`forget_long_expired_tokens`) and
        # their expired sessions at login
        Index("ix_api_token_user_id_expires_at", "user_id", "expires_at"),
        # the revocation list: revoked tokens that have not expired yet
        Index("ix_api_token_revoked", "expires_at", postgresql_where=text("revoked_at IS NOT NULL")),
    )

    id: uuid.UUID = Field(sa_column=Column(Uuid, primary_key=True))
    user_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("app_user.id", ondelete="CASCADE"), nullable=False)
    )
    name: str = Field(sa_column=Column(Text, nullable=False))
    kind: str = Field(sa_column=Column(Text, nullable=False))
    scopes: list[str] = Field(default_factory=list, sa_column=Column(ARRAY(Text), nullable=False))
    projects: list[str] | None = Field(default=None, sa_column=Column(ARRAY(Text)))
    created_at: datetime | None = Field(default=None, sa_column=_created_at())
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


# The tables, for the repositories' Core queries (SQLModel hides `__table__` from type checkers).
project_table: Table = Project.__table__  # type: ignore[attr-defined]
commit_table: Table = Commit.__table__  # type: ignore[attr-defined]
commit_ref_table: Table = CommitRef.__table__  # type: ignore[attr-defined]
git_ref_table: Table = GitRef.__table__  # type: ignore[attr-defined]
batch_table: Table = Batch.__table__  # type: ignore[attr-defined]
batch_change_table: Table = BatchChange.__table__  # type: ignore[attr-defined]
test_input_table: Table = TestInput.__table__  # type: ignore[attr-defined]
output_table: Table = Output.__table__  # type: ignore[attr-defined]
milestone_table: Table = Milestone.__table__  # type: ignore[attr-defined]
user_table: Table = User.__table__  # type: ignore[attr-defined]
api_token_table: Table = ApiToken.__table__  # type: ignore[attr-defined]
