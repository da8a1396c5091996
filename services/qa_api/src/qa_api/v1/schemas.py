"""The QA-Board v1 wire format, as the `qa` CLI of `qaboard` 1.1.1 sends and reads it.

Requests carry many keys we do not use (the CLI spreads its whole context into every body): they are
accepted and ignored. What we keep is validated; the whole body must be storable (no NaN, no NUL).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from qahub_shared.schemas.documents import storable_problem
from qahub_shared.schemas.identifiers import CommitSha, Label, ProjectId, SafePath


class _Body(BaseModel):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        problem = storable_problem(data) if isinstance(data, dict) else None
        if problem:
            raise ValueError(problem)
        return data


class CommitEnvelope(_Body):
    """What every POST of the CLI carries about the project and the commit."""

    project: ProjectId = Field(examples=["group/repo"])
    commit_sha: CommitSha | None = Field(default=None, examples=["99fcebb1272352a154ae6c33b5bb3ef25549144f"])
    git_commit_sha: CommitSha | None = None
    job_type: str | None = Field(default=None, max_length=32, examples=["ci"])
    commit_branch: Label | None = Field(default=None, examples=["master"])
    commit_tag: Label | None = None
    commit_committer_name: str | None = Field(default=None, max_length=1024)
    commit_committer_email: str | None = Field(default=None, max_length=1024)
    commit_authored_datetime: datetime | None = None
    commit_parents: list[CommitSha] = Field(default_factory=list, max_length=64)
    commit_message: str | None = Field(default=None, max_length=100_000)
    qaboard_config: dict[str, Any] | None = None
    qaboard_metrics: dict[str, Any] | None = None
    outputs_commit: SafePath | None = None
    artifacts_commit: SafePath | None = None
    commit_ci_dir: SafePath | None = None
    user: str | None = Field(default=None, max_length=255)

    @model_validator(mode="after")
    def _has_sha(self) -> Self:
        if self.commit_sha is None and self.git_commit_sha is None:
            raise ValueError("commit_sha (or git_commit_sha) is required")
        return self

    @property
    def sha(self) -> str:
        sha = self.commit_sha or self.git_commit_sha
        assert sha is not None  # guaranteed by _has_sha
        return sha

    @property
    def artifacts_dir(self) -> str | None:
        return self.artifacts_commit or self.commit_ci_dir


class OutputReport(CommitEnvelope):
    """POST /api/v1/output/: a run was planned, started, or finished."""

    batch_label: Label = "default"
    database: SafePath = Field(examples=["/mnt/datasets/images"])
    input_path: SafePath | None = Field(default=None, examples=["A.jpg"])
    rel_input_path: SafePath | None = None
    input_metadata: dict[str, Any] | None = None
    input_type: str | None = Field(default=None, max_length=255, examples=["default"])
    platform: Label = "linux"
    configurations: list[Any] = Field(default_factory=list)
    extra_parameters: dict[str, Any] = Field(default_factory=dict)
    output_directory: SafePath | None = None
    is_pending: bool = False
    is_running: bool = False
    is_failed: bool | None = None
    metrics: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    batch: str | None = Field(default=None, max_length=1024)

    @model_validator(mode="after")
    def _has_input(self) -> Self:
        if self.test_input_path is None:
            raise ValueError("the input path was not provided (input_path or rel_input_path)")
        return self

    @property
    def test_input_path(self) -> str | None:
        return self.rel_input_path or self.input_path


class BatchReport(CommitEnvelope):
    """POST /api/v1/batch/: `qa batch` registers a command; `qa optimize` records its progress."""

    batch_label: Label = "default"
    batch_dir: SafePath | None = None
    prefix_output_dir: SafePath | None = None
    command: dict[str, Any] | None = None
    data: dict[str, Any] | None = None


class CommitReport(CommitEnvelope):
    """POST /api/v1/commit/: `qa save-artifacts` saved the commit's artifacts."""

    data: dict[str, Any] | None = None


class OutputUpdate(_Body):
    """PUT /api/v1/output/{id}/: a partial update."""

    is_pending: bool | None = None
    is_running: bool | None = None
    is_failed: bool | None = None
    metrics: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    batch: str | None = Field(default=None, max_length=1024)


class MilestoneUpdate(_Body):
    """POST /api/v1/project/milestones: save (or with `delete: true`, remove) a milestone."""

    project: ProjectId
    key: str = Field(min_length=1, max_length=255)
    milestone: dict[str, Any] | None = None
    delete: bool = False


class Status(BaseModel):
    status: str = Field(default="OK", examples=["OK"])
    id: int | None = None


class V1Output(BaseModel):
    """An output as QA-Board serializes it (`Output.to_dict`)."""

    id: int
    output_type: str | None
    platform: str
    configurations: list[Any]
    extra_parameters: dict[str, Any]
    metrics: dict[str, Any]
    is_failed: bool
    is_pending: bool
    is_running: bool
    data: dict[str, Any]
    deleted: bool = False
    created_date: str
    output_dir_url: str = Field(examples=["/s/mnt/qa/group/repo/99/fcebb1272352a1/output/linux/a"])
    test_input_database: str
    test_input_path: str
    test_input_metadata: dict[str, Any]


class V1Batch(BaseModel):
    id: int
    commit_id: str
    label: str
    created_date: str
    data: dict[str, Any]
    batch_dir_url: str | None
    aggregated_metrics: dict[str, float] = Field(
        examples=[{"psnr_median": 41.2, "psnr_average": 40.9}],
        description="`<metric>_median` and `<metric>_average` over finished, not failed outputs.",
    )
    valid_outputs: int
    pending_outputs: int
    running_outputs: int
    failed_outputs: int
    deleted_outputs: int = 0
    outputs: dict[str, V1Output] | None = None


class V1Commit(BaseModel):
    id: str = Field(description="The commit sha.")
    branch: str | None
    branches: list[str]
    tags: list[str]
    parents: list[str]
    message: str | None
    committer_name: str | None
    authored_datetime: str
    authored_date: str
    latest_output_datetime: str | None
    deleted: bool = False
    data: dict[str, Any]
    outputs_url: str | None
    artifacts_url: str | None
    repo_artifacts_url: str | None
    batches: dict[str, V1Batch]


class V1ProjectSummary(BaseModel):
    data: dict[str, Any]
    latest_output_datetime: str | None
    latest_commit_datetime: str | None
    total_commits: int
