"""How GitLab and GitHub announce a push, name the repository, and prove they sent it.

Only what is needed to find the repository is read from a body before it is authenticated; the secret
is compared in constant time (`hmac.compare_digest`), GitLab's as a plain token, GitHub's as the
HMAC-SHA256 of the raw body.
"""

from __future__ import annotations

import hashlib
import hmac

from pydantic import BaseModel, TypeAdapter, ValidationError

from qahub_shared.errors import InvalidInput
from qahub_shared.schemas.identifiers import ProjectId
from webhook_listener.repositories.schemas import Provider

GITLAB_EVENTS = frozenset({"Push Hook", "Tag Push Hook"})
GITHUB_EVENTS = frozenset({"push"})
GITHUB_PING = "ping"

# Headers that prove who sent a delivery: checked, never stored.
SECRET_HEADERS = frozenset(
    {"x-gitlab-token", "x-hub-signature", "x-hub-signature-256", "authorization", "cookie"}
)


class _GitLabProject(BaseModel):
    path_with_namespace: str


class _GitLabHead(BaseModel):
    project: _GitLabProject


class _GitHubRepository(BaseModel):
    full_name: str


class _GitHubHead(BaseModel):
    repository: _GitHubRepository


def repository_path(provider: Provider, body: bytes) -> str | None:
    """The `group/repo` a delivery is about (GitLab's `project.path_with_namespace`, GitHub's
    `repository.full_name`); 422 when the body does not say; None when what it says is no project id
    (no registered repository can have it)."""
    try:
        if provider is Provider.GITLAB:
            path = _GitLabHead.model_validate_json(body).project.path_with_namespace
        else:
            path = _GitHubHead.model_validate_json(body).repository.full_name
    except ValidationError:
        field = "project.path_with_namespace" if provider is Provider.GITLAB else "repository.full_name"
        raise InvalidInput(f"The body is not a {provider.value} push event with {field}.") from None
    try:
        return _PROJECT_ID.validate_python(path)
    except ValidationError:
        return None


_PROJECT_ID: TypeAdapter[str] = TypeAdapter(ProjectId)


def gitlab_token_matches(secret: str, token: str | None) -> bool:
    return hmac.compare_digest(secret.encode(), (token or "").encode())


def github_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github_signature_matches(secret: str, body: bytes, signature: str | None) -> bool:
    return hmac.compare_digest(github_signature(secret, body).encode(), (signature or "").strip().encode())


def idempotency_key(provider: Provider, headers: dict[str, str], body: bytes) -> str:
    """`Idempotency-Key`, else `X-Gitlab-Event-UUID` (GitLab) or `X-GitHub-Delivery` (GitHub); without
    any, the body's digest: the same body twice is the same push."""
    names = ["idempotency-key", "x-gitlab-event-uuid" if provider is Provider.GITLAB else "x-github-delivery"]
    for name in names:
        value = headers.get(name, "").strip()
        if value:
            return value[:255]
    return "sha256:" + hashlib.sha256(body).hexdigest()
