"""Webhook deliveries shaped like the ones GitLab and GitHub send (`fixtures/`, from their documentation),
with the real shas and refs of a test repository filled in, and the headers each provider sends."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import uuid
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
ZERO = "0" * 40


@cache
def _fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return loaded


def gitlab_push(
    project: str, *, ref: str, before: str, after: str, commits: list[str], tag: bool = False
) -> dict[str, Any]:
    """A `Push Hook` (or `Tag Push Hook`) body: like GitLab, it lists at most the newest 20 commits."""
    body = copy.deepcopy(_fixture("gitlab_tag_push.json" if tag else "gitlab_push.json"))
    template = (_fixture("gitlab_push.json")["commits"] or [{}])[0]
    body.update(
        ref=ref,
        before=before,
        after=after,
        checkout_sha=None if after == ZERO else after,
        total_commits_count=len(commits),
        commits=[{**template, "id": sha, "message": f"commit {sha[:8]}"} for sha in commits[-20:]],
    )
    body["project"]["path_with_namespace"] = project
    return body


def github_push(project: str, *, ref: str, before: str, after: str, commits: list[str]) -> dict[str, Any]:
    body = copy.deepcopy(_fixture("github_push.json"))
    template = body["commits"][0]
    body.update(
        ref=ref,
        before=before,
        after=after,
        created=before == ZERO,
        deleted=after == ZERO,
        commits=[{**template, "id": sha} for sha in commits],
    )
    body["head_commit"] = body["commits"][-1] if commits else None
    body["repository"]["full_name"] = project
    return body


def gitlab_headers(secret: str, *, event: str = "Push Hook", key: str | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Gitlab-Event": event,
        "X-Gitlab-Token": secret,
        "X-Gitlab-Event-UUID": key or str(uuid.uuid4()),
    }


def github_headers(
    secret: str, body: bytes, *, event: str = "push", key: str | None = None
) -> dict[str, str]:
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": key or str(uuid.uuid4()),
        "X-Hub-Signature-256": signature,
    }
