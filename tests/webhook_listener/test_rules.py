"""Rules that need no server: QA-Board's config merge, allowed clone URLs, production settings."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from qahub_shared.backoff import retry_delay
from qahub_shared.schemas.git import MAX_REFS, GitCommit, GitRefKind, GitRefUpdate, GitUpdates
from webhook_listener.changes import MAX_SHAS_PER_BODY, _bounded, _commit_batches
from webhook_listener.config import Settings
from webhook_listener.mirror import load_config, redact
from webhook_listener.qaboard_config import merged_config
from webhook_listener.repositories.repository import Repository
from webhook_listener.repositories.service import clone_url_allowed, clone_url_refusal, mirror_path


def test_a_subproject_config_is_merged_over_its_ancestors_as_qaboard_merges() -> None:
    configs: dict[str, dict[str, Any]] = {
        "": {
            "project": {"name": "repo"},
            "inputs": {"database": "/root", "batches": ["a.yaml"]},
            "lsf": {"q": 1},
        },
        "algo": {"inputs": {"database": "/algo", "batches": ["super", "b.yaml"]}, "lsf": {"q": 0}},
        "algo/fast": {"inputs": {"type": "image", "database": None}},
    }

    merged = merged_config(configs, "algo/fast")

    # later (deeper) wins; empty or false values do not override; "super" splices the parent's list
    assert merged == {
        "project": {"name": "repo"},
        "inputs": {"database": "/algo", "batches": ["a.yaml", "b.yaml"], "type": "image"},
        "lsf": {"q": 1},
    }
    assert configs["algo"]["inputs"]["batches"] == ["super", "b.yaml"]  # inputs are not mutated


def test_a_config_saying_root_true_starts_the_chain() -> None:
    configs = {"": {"a": 1}, "tools": {"root": True, "b": 2}, "tools/x": {"c": 3}}

    assert merged_config(configs, "tools/x") == {"root": True, "b": 2, "c": 3}
    assert merged_config({}, "") is None


def test_file_urls_are_refused_unless_enabled() -> None:
    default = Settings()
    enabled = Settings(webhook_allow_file_urls=True)

    assert not clone_url_allowed(default, "file:///srv/git/repo.git")
    assert clone_url_allowed(enabled, "file:///srv/git/repo.git")
    assert clone_url_allowed(default, "https://gitlab.example.com/group/repo.git")
    assert not clone_url_allowed(default, "http://gitlab.example.com/group/repo.git")


def test_an_allowed_prefix_is_matched_by_the_clone_urls_host_not_its_credentials() -> None:
    gitlab = Settings(webhook_allowed_clone_url_prefixes=["https://gitlab.example.com/"])

    assert clone_url_allowed(gitlab, "https://oauth2:t0ken@gitlab.example.com/group/repo.git")
    assert not clone_url_allowed(gitlab, "https://gitlab.example.com@elsewhere.example/group/repo.git")


@pytest.mark.parametrize(
    ("prefix", "url", "allowed"),
    [
        ("ssh://gitlab.example.com", "ssh://git@gitlab.example.com/group/repo.git", True),
        ("ssh://gitlab.example.com", "ssh://gitlab.example.com@elsewhere.example/x.git", False),
        ("https://gitlab.example.com", "https://gitlab.example.com.elsewhere.example/x.git", False),
        ("https://gitlab.example.com/team/", "https://gitlab.example.com/team/repo.git", True),
        ("https://gitlab.example.com/team/", "https://gitlab.example.com/other/repo.git", False),
        ("https://gitlab.example.com:8443/", "https://gitlab.example.com/repo.git", False),
        ("https://gitlab.example.com/", "https://GitLab.Example.com/repo.git", True),
        ("git@gitlab.example.com:", "git@gitlab.example.com:group/repo.git", True),
        ("git@gitlab.example.com:", "ssh://git@gitlab.example.com/group/repo.git", True),
        ("git@gitlab.example.com:", "gitlab.example.com@elsewhere.example:x.git", False),
        ("git@gitlab.example.com:", "mallory@gitlab.example.com:group/repo.git", False),
        ("https://gitlab.example.com/", "https://gitlab.example.com:x/repo.git", False),
    ],
)
def test_a_prefix_naming_a_host_admits_that_host_only(prefix: str, url: str, allowed: bool) -> None:
    settings = Settings(webhook_allowed_clone_url_prefixes=[prefix])

    assert clone_url_allowed(settings, url) is allowed


@pytest.mark.parametrize(
    "url",
    [
        "https://gitlab.example.com/group/../other/repo.git",
        "https://gitlab.example.com/group/%2e%2e/other/repo.git",
        "https://gitlab.example.com/group/%2E./other/repo.git",
        "https://gitlab.example.com/group/..%2Fother/repo.git",
        "https://deploy:t0ken@gitlab.example.com/group/./repo.git",
        "https://gitlab.example.com/group/repo.git/..",
        "ssh://git@gitlab.example.com/group/../other/repo.git",
        "git@gitlab.example.com:group/../other/repo.git",
    ],
)
def test_a_clone_url_with_dot_segments_in_its_path_is_refused_whatever_the_prefixes(url: str) -> None:
    prefixes = ["https://gitlab.example.com/group/", "git@gitlab.example.com:group/"]
    hosts = Settings(webhook_allowed_clone_url_prefixes=prefixes)
    defaults = Settings()

    assert clone_url_allowed(hosts, url) is False
    assert clone_url_allowed(defaults, url) is False
    assert clone_url_refusal(defaults, url) == "has a '.' or '..' segment in its path"


@pytest.mark.parametrize(
    ("prefix", "url", "allowed"),
    [
        ("https://gitlab.example.com/group", "https://gitlab.example.com/group/repo.git", True),
        ("https://gitlab.example.com/group/", "https://gitlab.example.com/group/sub/repo.git", True),
        ("https://gitlab.example.com/group", "https://gitlab.example.com/group-evil/repo.git", False),
        ("https://gitlab.example.com/group/", "https://gitlab.example.com/group-evil/repo.git", False),
        ("https://gitlab.example.com/group/repo", "https://gitlab.example.com/group/repo.git", False),
        ("https://gitlab.example.com/group/", "https://gitlab.example.com/gr%6Fup/repo.git", True),
        ("https://gitlab.example.com/group/", "https://gitlab.example.com/other/group/repo.git", False),
        ("https://gitlab.example.com", "https://gitlab.example.com/any/repo.git", True),
        ("https://gitlab.example.com/", "https://gitlab.example.com/any/repo.git", True),
        ("git@gitlab.example.com:group", "git@gitlab.example.com:group/repo.git", True),
        ("git@gitlab.example.com:group", "git@gitlab.example.com:group-evil/repo.git", False),
        ("ssh://git@gitlab.example.com/group", "ssh://git@gitlab.example.com/groupie/repo.git", False),
    ],
)
def test_a_prefixs_path_admits_whole_segments_only(prefix: str, url: str, allowed: bool) -> None:
    settings = Settings(webhook_allowed_clone_url_prefixes=[prefix])

    assert clone_url_allowed(settings, url) is allowed


@pytest.mark.parametrize(
    "url",
    [
        "git@[::1]:group/repo.git",
        "[gitlab.example.com]:group/repo.git",
        "https://[::1/group/repo.git",
        "https://deploy:t0ken@[gitlab.example.com]/group/repo.git",
        "https://gitlab.example.com:99999/group/repo.git",
    ],
)
def test_a_clone_url_that_cannot_be_read_is_refused_whatever_the_prefixes(url: str) -> None:
    settings = Settings(
        webhook_allowed_clone_url_prefixes=["https://", "git@", "https://gitlab.example.com/", "git@[::1]:"]
    )

    assert clone_url_allowed(settings, url) is False
    assert clone_url_refusal(settings, url) == "cannot be read as a URL"


@pytest.mark.parametrize(
    ("prefix", "url", "allowed"),
    [
        ("https://ci@gitlab.example.com/group/", "https://ci@gitlab.example.com/group/repo.git", True),
        ("https://ci:t0ken@gitlab.example.com/group/", "https://gitlab.example.com/group/repo.git", True),
        ("https://ci@gitlab.example.com/group/", "https://other:t0k@gitlab.example.com/group/repo.git", True),
        ("https://ci@gitlab.example.com/group/", "https://ci@gitlab.example.com/other/repo.git", False),
        ("https://ci@gitlab.example.com/", "https://ci@gitlab.example.com.elsewhere/repo.git", False),
        ("ssh://git@gitlab.example.com/", "ssh://mallory@gitlab.example.com/repo.git", False),
    ],
)
def test_the_login_of_an_https_prefix_is_a_credential_and_not_compared(
    prefix: str, url: str, allowed: bool
) -> None:
    settings = Settings(webhook_allowed_clone_url_prefixes=[prefix])

    assert clone_url_allowed(settings, url) is allowed


def test_production_refuses_development_defaults() -> None:
    production: dict[str, Any] = {
        "env": "production",
        "webhook_database_url": "postgresql://listener@db.internal/qahub",
        "api_url": "https://qa-api.internal",
        "webhook_qa_api_token": SecretStr("token"),
    }
    Settings.model_validate(production)

    unsafe_changes: list[dict[str, Any]] = [
        {"webhook_allow_file_urls": True},
        {"webhook_qa_api_token": None},
        {"api_url": "http://127.0.0.1:5151"},
        {"webhook_database_url": None},
    ]
    for unsafe in unsafe_changes:
        with pytest.raises(ValidationError):
            Settings.model_validate({**production, **unsafe})


def test_ref_updates_are_split_so_no_body_names_too_many_commits() -> None:
    many = [f"{i:040x}" for i in range(12_000)]
    refs = [
        GitRefUpdate(kind=GitRefKind.BRANCH, name=f"b{i}", sha=many[0], added=many[:9_000]) for i in range(3)
    ] + [GitRefUpdate(kind=GitRefKind.TAG, name=f"t{i}", sha=many[0]) for i in range(150)]

    groups = list(_bounded(refs))

    assert [ref for group in groups for ref in group] == refs
    assert all(len(group) <= MAX_REFS for group in groups)
    assert all(sum(len(r.added) + len(r.removed) + 1 for r in group) <= MAX_SHAS_PER_BODY for group in groups)


def test_the_retry_backoff_doubles_up_to_its_cap_however_long_qa_api_is_down() -> None:
    delays = [retry_delay(attempts, 1.0, 60.0) for attempts in (1, 2, 3, 7, 8, 5_000)]

    assert delays == [1.0, 2.0, 4.0, 60.0, 60.0, 60.0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"project:\n  name: repo\n", {"project": {"name": "repo"}}),
        (b"released: 2026-11-28\n", {"released": "2026-11-28"}),
        (b"blob: !!binary /w==\n", {"blob": "b'\\xff'"}),
        (b"a: &x {b: 1}\nc: *x\n", {}),  # aliases: self-reference and "billion laughs" both need them
        (b"a: &x {b: *x}\n", {}),
        (b"score: .nan\n", {}),
        (b"[1, 2]\n", {}),
        (b"", {}),
        (b"a: [" * 40 + b"]" * 40 + b"\n", {}),  # deeper than JSONB documents may be here
        (b"a: '" + b"x" * 300_000 + b"'\n", {}),
    ],
    ids=["mapping", "date", "binary", "alias", "self-reference", "nan", "list", "empty", "deep", "huge"],
)
def test_a_qaboard_yaml_becomes_json_or_configures_nothing(text: bytes, expected: dict[str, Any]) -> None:
    assert load_config(text) == expected


def test_nested_repository_paths_get_separate_mirrors(tmp_path: Path) -> None:
    settings = Settings(webhook_mirror_dir=tmp_path)
    outer, inner = (
        mirror_path(settings, Repository(n, "gitlab", path, "s", "u", datetime.now(UTC)))
        for n, path in ((1, "a/b"), (2, "a/b.git/c"))
    )

    assert outer.parent == inner.parent == tmp_path / "gitlab"
    assert outer != inner


def test_commits_are_sent_in_bodies_that_fit_qa_apis_body_cap() -> None:
    config = {"blob": "x" * 100_000}
    commits = [
        GitCommit(
            sha=f"{n:040x}",
            authored_at=datetime(2026, 11, 28, tzinfo=UTC),
            committed_at=datetime(2026, 11, 28, tzinfo=UTC),
            config=config,
        )
        for n in range(120)
    ]

    batches = list(_commit_batches(commits))

    assert [commit for batch in batches for commit in batch] == commits
    assert all(
        len(GitUpdates(project="a/b", commits=batch).model_dump_json()) < 10 * 2**20 for batch in batches
    )
    assert len(batches) > 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://user:token@host/x", "https://***@host/x"),
        ("https://u:p@ss@host/x", "https://***@host/x"),
        (
            "https://oauth2:a@b@c@gitlab.example.com:8443/g/r.git",
            "https://***@gitlab.example.com:8443/g/r.git",
        ),
        ("https://u:p@ss@host", "https://***@host"),
        ("https://u:pass word@host/x", "https://***@host/x"),
        ("https://u:p@ss@host?q=a@b#x@y", "https://***@host?q=a@b#x@y"),
        ("ssh://git@host/g/r.git", "ssh://***@host/g/r.git"),
        (
            "fatal: unable to access 'https://u:s@cret@host/r.git/': 403, see https://t@k@other/x",
            "fatal: unable to access 'https://***@host/r.git/': 403, see https://***@other/x",
        ),
        ("https://host/group/repo@v1 by dev@example.com", "https://host/group/repo@v1 by dev@example.com"),
        ("git@host:group/repo.git", "git@host:group/repo.git"),
    ],
)
def test_credentials_are_redacted_up_to_the_last_at_sign_of_the_authority(text: str, expected: str) -> None:
    assert redact(text) == expected
