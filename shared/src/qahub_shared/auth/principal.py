"""Who is calling and what they may do: scopes, the services they open, and project patterns.

A token carries scopes and, optionally, the projects it is restricted to. Scopes imply others (`admin`
implies everything, `runs:write` implies `runs:read`), and each scope opens one or more services: a token
is issued for exactly the services (JWT audiences) its scopes open, so a `metrics:write` token is refused by
qa_api before any scope is even looked at.

Project patterns: `group/repo` is that project only; `group/*` is every project below `group/`, at any
depth (`group/repo`, `group/repo/sub/dir`); `*` is every project.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from qahub_shared.errors import Forbidden


class Audience(StrEnum):
    """The services a token can be presented to (the JWT `aud` claim)."""

    QA_API = "qa_api"
    METRICS_BROKER = "metrics_broker"
    WEBHOOK_LISTENER = "webhook_listener"


class TokenKind(StrEnum):
    SESSION = "session"
    """From a password login: short-lived, carries the user's own scopes."""
    API = "api"
    """Created by `qahub token create`: named, scoped, possibly restricted to projects."""


class Scope(StrEnum):
    RUNS_READ = "runs:read"
    RUNS_WRITE = "runs:write"
    METRICS_WRITE = "metrics:write"
    COMMITS_WRITE = "commits:write"
    ADMIN = "admin"


SCOPE_DESCRIPTIONS: dict[Scope, str] = {
    Scope.RUNS_READ: "read projects, commits, batches and outputs (qa_api)",
    Scope.RUNS_WRITE: "upload runs with the qa CLI: outputs, batches, commits, milestones (qa_api)",
    Scope.METRICS_WRITE: "send quality metrics (metrics_broker)",
    Scope.COMMITS_WRITE: "record commits, branches and tags as git has them (the webhook listener; qa_api)",
    Scope.ADMIN: "manage users, tokens and repositories; implies every other scope (every service)",
}

_IMPLIES: dict[Scope, frozenset[Scope]] = {
    Scope.ADMIN: frozenset(Scope),
    Scope.RUNS_WRITE: frozenset({Scope.RUNS_WRITE, Scope.RUNS_READ}),
}

_OPENS: dict[Scope, frozenset[Audience]] = {
    Scope.RUNS_READ: frozenset({Audience.QA_API}),
    Scope.RUNS_WRITE: frozenset({Audience.QA_API}),
    Scope.METRICS_WRITE: frozenset({Audience.METRICS_BROKER}),
    Scope.COMMITS_WRITE: frozenset({Audience.QA_API}),
    Scope.ADMIN: frozenset(Audience),
}


def expand(scopes: Iterable[Scope]) -> frozenset[Scope]:
    """The scopes granted, with everything they imply."""
    return frozenset().union(*(_IMPLIES.get(scope, frozenset({scope})) for scope in scopes))


def audiences(scopes: Iterable[Scope]) -> frozenset[Audience]:
    """The services a token with these scopes is issued for."""
    return frozenset().union(*(_OPENS[scope] for scope in expand(scopes)))


def project_matches(pattern: str, project: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith("/*"):
        return project.startswith(pattern[:-1])
    return project == pattern


@dataclass(frozen=True, slots=True)
class Principal:
    """The verified caller of a request: a user's session or one of their API tokens."""

    subject: str
    """The username the token belongs to."""
    token_id: str
    """The token's id (JWT `jti`): what revocation names."""
    kind: TokenKind
    scopes: frozenset[Scope]
    """Granted scopes, implications included."""
    projects: tuple[str, ...] | None
    """Project patterns the token is restricted to; None: every project."""
    expires_at: datetime

    @property
    def is_admin(self) -> bool:
        return Scope.ADMIN in self.scopes

    def can_see(self, project: str) -> bool:
        """Whether the token's project restriction admits this project (scopes aside)."""
        return self.projects is None or any(project_matches(p, project) for p in self.projects)

    def allows(self, scope: Scope, project: str | None = None) -> bool:
        if scope not in self.scopes:
            return False
        return project is None or self.can_see(project)

    def require(self, scope: Scope, project: str | None = None) -> None:
        """Raise 403 unless this principal holds `scope` (on `project`, when given)."""
        if scope not in self.scopes:
            raise Forbidden(
                f"This token lacks the scope {scope.value!r}.",
                headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope.value}"'},
            )
        if project is not None and not self.can_see(project):
            raise Forbidden(
                f"This token is not valid for project {project!r} "
                f"(it is restricted to {', '.join(self.projects or ())}).",
                headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope.value}"'},
            )
