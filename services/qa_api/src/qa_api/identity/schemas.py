"""Wire shapes of logins, users and tokens."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from qahub_shared.auth.principal import Scope, TokenKind
from qahub_shared.schemas.identifiers import ProjectPattern

Username = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$"),
]
# Bounded: hashing a megabyte-long password would be a cheap way to burn the server's CPU.
Password = Annotated[str, StringConstraints(min_length=1, max_length=256)]
NewPassword = Annotated[str, StringConstraints(min_length=10, max_length=256)]
TokenName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]

DEFAULT_USER_SCOPES = [Scope.RUNS_READ, Scope.RUNS_WRITE, Scope.METRICS_WRITE]


class LoginRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"username": "ada", "password": "..."}]})

    username: Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, max_length=64)]
    password: Password


class IssuedToken(BaseModel):
    """A token, shown this once: QA Hub keeps only its id."""

    access_token: str = Field(description="Send it as `Authorization: Bearer <token>`.")
    token_type: str = Field(default="bearer", examples=["bearer"])
    token_id: uuid.UUID
    expires_at: datetime
    scopes: list[Scope]
    projects: list[str] | None = Field(description="Project patterns it is restricted to; null: all.")


class Whoami(BaseModel):
    username: str
    token_id: str
    kind: TokenKind
    scopes: list[Scope] = Field(description="Granted scopes, with the ones they imply.")
    projects: list[str] | None
    expires_at: datetime


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    password: NewPassword
    admin: bool = Field(default=False, description="Admins hold every scope on every project.")
    scopes: list[Scope] = Field(
        default_factory=lambda: list(DEFAULT_USER_SCOPES),
        description="The most the user's logins and tokens may hold.",
    )
    projects: list[ProjectPattern] | None = Field(
        default=None, max_length=100, description="Restrict the user to these projects; null: all."
    )


class UserPublic(BaseModel):
    username: str
    admin: bool
    scopes: list[Scope]
    projects: list[str] | None
    created_at: datetime
    disabled_at: datetime | None


class TokenCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "ci", "scopes": ["runs:write"], "projects": ["group/*"], "expires_in_days": 90}
            ]
        },
    )

    name: TokenName
    scopes: list[Scope] = Field(min_length=1)
    projects: list[ProjectPattern] | None = Field(
        default=None, max_length=100, description="Restrict the token to these projects; null: all."
    )
    expires_in_days: float | None = Field(
        default=None, gt=0, description="Lifetime; the default and the maximum are server settings."
    )
    owner: Username | None = Field(default=None, description="Admins only: create it for another user.")


class TokenPublic(BaseModel):
    id: uuid.UUID
    name: str
    owner: str
    kind: TokenKind
    scopes: list[Scope]
    projects: list[str] | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    active: bool = Field(description="Neither revoked nor expired.")


class Revocations(BaseModel):
    """What the other services poll (every `QAHUB_REVOCATION_REFRESH_SECONDS`)."""

    revoked: list[uuid.UUID] = Field(description="Ids of revoked tokens that have not expired yet.")
