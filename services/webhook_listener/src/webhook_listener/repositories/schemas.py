"""Registered repositories on the wire: what an admin sends, and what the API shows (never the secret)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from qahub_shared.schemas.identifiers import ProjectId


class Provider(StrEnum):
    GITLAB = "gitlab"
    GITHUB = "github"


class RepositoryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: Provider
    project: ProjectId = Field(
        examples=["group/repo"],
        description="GitLab's `path_with_namespace` or GitHub's `full_name`: how deliveries are matched.",
    )
    secret: SecretStr = Field(
        min_length=8, max_length=1024, description="The secret configured on the webhook (never shown again)."
    )
    clone_url: str = Field(
        min_length=1,
        max_length=2048,
        examples=["https://gitlab.example.com/group/repo.git"],
        description="Where the listener fetches from; must match an allowed prefix.",
    )


class RepositoryPublic(BaseModel):
    id: int
    provider: Provider
    project: str
    clone_url: str
    created_at: datetime


class RepositoryPage(BaseModel):
    items: list[RepositoryPublic]
    next_cursor: str | None = None


class ReconcileQueued(BaseModel):
    repositories: int = Field(description="Repositories a reconciliation was queued for.")
