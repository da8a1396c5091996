"""The rules of the shared auth module that need no server: scopes, project patterns, headers, limits."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qahub_shared.auth.dependencies import bearer_token
from qahub_shared.auth.principal import Audience, Scope, audiences, expand, project_matches
from qahub_shared.errors import Unauthorized
from qahub_shared.ratelimit import SlidingWindowLimiter


def test_admin_implies_every_scope_and_runs_write_implies_runs_read() -> None:
    assert expand([Scope.ADMIN]) == frozenset(Scope)
    assert expand([Scope.RUNS_WRITE]) == {Scope.RUNS_WRITE, Scope.RUNS_READ}
    assert expand([Scope.METRICS_WRITE]) == {Scope.METRICS_WRITE}
    assert expand([Scope.COMMITS_WRITE]) == {Scope.COMMITS_WRITE}


def test_a_token_is_issued_for_the_services_its_scopes_open() -> None:
    assert audiences([Scope.RUNS_WRITE]) == {Audience.QA_API}
    assert audiences([Scope.METRICS_WRITE]) == {Audience.METRICS_BROKER}
    assert audiences([Scope.COMMITS_WRITE]) == {Audience.QA_API}
    assert audiences([Scope.ADMIN]) == frozenset(Audience)


@pytest.mark.parametrize(
    ("pattern", "project", "matches"),
    [
        ("*", "any/thing", True),
        ("group/repo", "group/repo", True),
        ("group/repo", "group/repo/sub", False),
        ("group/*", "group/repo", True),
        ("group/*", "group/repo/sub/dir", True),
        ("group/*", "group", False),
        ("group/*", "group-other/repo", False),
    ],
)
def test_project_patterns(pattern: str, project: str, matches: bool) -> None:
    assert project_matches(pattern, project) is matches


def test_bearer_and_jwt_schemes_are_accepted_in_any_case() -> None:
    assert bearer_token(None) is None
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer abc") == "abc"
    assert bearer_token("JWT abc") == "abc"
    for bad in ("Basic abc", "Bearer", "Bearer a b", ""):
        with pytest.raises(Unauthorized):
            bearer_token(bad)


def test_the_limiter_allows_limit_events_per_window_and_forgets_the_oldest_keys() -> None:
    limiter = SlidingWindowLimiter(2, window_seconds=60, max_keys=2)
    limiter.hit("a")
    assert limiter.retry_after("a") is None
    limiter.hit("a")
    wait = limiter.retry_after("a")
    assert wait is not None
    assert 59 < wait <= 60
    limiter.hit("b")
    limiter.hit("c")  # beyond max_keys: "a" is forgotten
    assert limiter.retry_after("a") is None


def test_only_the_shared_auth_module_imports_jose() -> None:
    # one place decides how tokens are verified: a second importer could forget `algorithms=`
    root = Path(__file__).resolve().parents[2]
    auth = root / "shared" / "src" / "qahub_shared" / "auth"
    importers = [
        path.relative_to(root).as_posix()
        for folder in ("shared", "services", "cli", "bench")
        for path in (root / folder).rglob("*.py")
        if re.search(r"^\s*(import jose|from jose)\b", path.read_text(), re.MULTILINE)
        and auth not in path.parents
    ]
    assert importers == []
