"""Registered repositories on the wire: what an admin sends, and what the API shows (never the secret)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

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

    @field_validator("clone_url")
    @classmethod
    def _one_plain_line(cls, value: str) -> str:
        if any(ord(char) < 0x20 or char == "\x7f" for char in value):
            raise ValueError("cannot contain control characters (newlines, tabs, NUL...)")
        return value

    @field_validator("secret")
    @classmethod
    def _no_nul(cls, value: SecretStr) -> SecretStr:
        if "\x00" in value.get_secret_value():
            raise ValueError("cannot contain NUL characters")
        return value


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
