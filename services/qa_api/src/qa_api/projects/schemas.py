"""Projects as the v2 API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from qa_api.projects.repository import ProjectActivity


class ProjectSummary(BaseModel):
    id: str = Field(examples=["group/repo/sub/dir"])
    total_commits: int = Field(examples=[412])
    latest_commit_at: datetime | None
    latest_output_at: datetime | None
    created_at: datetime | None

    @classmethod
    def of(cls, item: ProjectActivity) -> ProjectSummary:
        return cls(
            id=item.project.id,
            total_commits=item.total_commits,
            latest_commit_at=item.latest_commit_at,
            latest_output_at=item.latest_output_at,
            created_at=item.project.created_at,
        )


class ProjectDetail(BaseModel):
    id: str = Field(examples=["group/repo"])
    config: dict[str, Any] = Field(description="The project's qaboard.yaml, as the CLI last sent it.")
    metric_definitions: dict[str, Any] = Field(
        description="`available_metrics`, `summary_metrics`... as the CLI last sent them."
    )
    milestones: dict[str, dict[str, Any]]
    created_at: datetime | None
    updated_at: datetime | None
