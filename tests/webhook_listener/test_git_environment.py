"""The listener's git runs as the listener means it to, whatever the machine's git configuration says."""

from __future__ import annotations

import base64
import textwrap
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.webhook_listener.conftest import SECRET, Listener, running_listener, unique_project
from tests.webhook_listener.git_http import serving
from tests.webhook_listener.gitrepo import Origin
from tests.webhook_listener.test_git_sync import history, push_branch, registered
from webhook_listener.config import Settings
from webhook_listener.mirror import clone_command, git_environment, remote_of


def user_git_config(home: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`text` becomes the ~/.gitconfig of the user the listener runs as."""
    home.mkdir()
    (home / ".gitconfig").write_text(textwrap.dedent(text))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)


async def test_the_users_git_config_does_not_apply_to_the_listeners_git(
    listener: Listener,
    origin: Origin,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    qa_api_client: httpx.AsyncClient,
) -> None:
    (tmp_path / "decoy").mkdir()
    decoy = Origin(tmp_path / "decoy")
    decoy.commit("not from the registered repository")
    decoy.push("HEAD:refs/heads/main")
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    ran = tmp_path / "a-hook-ran"
    hook = hooks / "reference-transaction"
    hook.write_text(f"#!/bin/sh\ntouch {ran}\n")
    hook.chmod(0o755)
    user_git_config(
        tmp_path / "home",
        f"""\
        [url "{decoy.url}"]
            insteadOf = {origin.url}
        [core]
            hooksPath = {hooks}
        """,
        monkeypatch,
    )

    project = await registered(listener, origin)
    pushed = origin.commits(2)
    await push_branch(listener, origin, project, "main")

    assert await history(qa_api_client, project, branch="main") == list(reversed(pushed))
    assert not ran.exists()


async def test_credentials_in_an_https_clone_url_reach_git_through_its_environment_only(
    settings: Settings,
    admin_token: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    qa_api_client: httpx.AsyncClient,
) -> None:
    served = tmp_path / "served"
    served.mkdir()
    origin = Origin(served)
    pushed = origin.commits(2)
    origin.push("HEAD:refs/heads/main")
    # what every git command the listener runs is started with, as `ps` would show it
    trace = tmp_path / "git-trace"
    monkeypatch.setenv("GIT_TRACE", str(trace))
    http_only = settings.model_copy(update={"webhook_allowed_clone_url_prefixes": ["http://127.0.0.1:"]})
    with serving(served, user="deploy", password=PASSWORD) as server:
        # the password's '@' and ':' as a user may type them, its '/' percent-encoded
        url = f"http://deploy:{PASSWORD.replace('/', '%2F')}@127.0.0.1:{server.server_address[1]}/origin.git"
        async with running_listener(http_only, admin_token) as listener:
            project = unique_project()
            await listener.register(project, url)
            first = await listener.settled(project)
            more = origin.commit()
            await push_branch(listener, origin, project, "main")

    assert [d["state"] for d in first] == ["done"]
    assert await history(qa_api_client, project, branch="main") == [more, *reversed(pushed)]
    assert server.authorized > 0
    (config,) = http_only.mirror_dir.glob("*/*.git/config")
    assert f"url = {server.url}/origin.git\n" in config.read_text()
    assert "s3cr" not in config.read_text()
    assert "git clone" in trace.read_text()
    assert "s3cr" not in trace.read_text()


PASSWORD = "s3cr@t:with/odd chars"


async def test_the_credential_of_a_clone_url_never_follows_a_redirect_to_another_host(
    settings: Settings, admin_token: str, tmp_path: Path
) -> None:
    served = tmp_path / "served"
    served.mkdir()
    origin = Origin(served)
    origin.commits(2)
    origin.push("HEAD:refs/heads/main")
    http_only = settings.model_copy(update={"webhook_allowed_clone_url_prefixes": ["http://127.0.0.1:"]})
    # another host (port) serving the same repository to anyone, and counting who sends the credential
    with (
        serving(served, user="deploy", password=PASSWORD, public=True) as elsewhere,
        serving(served, user="deploy", password=PASSWORD, redirect_to=elsewhere.url) as registered_host,
    ):
        port = registered_host.server_address[1]
        url = f"http://deploy:{PASSWORD.replace('/', '%2F')}@127.0.0.1:{port}/origin.git"
        async with running_listener(http_only, admin_token) as listener:
            project = unique_project()
            await listener.register(project, url)
            settled = await listener.settled(project)

    assert elsewhere.authorized == 0
    assert [d["state"] for d in settled] == ["failed"]
    assert settled[0]["reason"].endswith("The requested URL returned error: 302")


def test_git_follows_no_redirect_when_the_clone_url_carries_a_credential() -> None:
    with_credential = configuration(git_environment(remote_of("https://ci:t0k@gitlab.example.com/x.git")))
    without = configuration(git_environment(remote_of("https://gitlab.example.com/x.git")))

    assert with_credential["http.followRedirects"] == "false"
    assert "http.followRedirects" not in without


def configuration(environment: dict[str, str]) -> dict[str, str]:
    """The git configuration `environment` gives git (GIT_CONFIG_COUNT, _KEY_n, _VALUE_n)."""
    return {
        environment[f"GIT_CONFIG_KEY_{index}"]: environment[f"GIT_CONFIG_VALUE_{index}"]
        for index in range(int(environment["GIT_CONFIG_COUNT"]))
    }


def test_the_command_line_and_the_config_of_a_mirror_never_hold_its_credentials(tmp_path: Path) -> None:
    remote = remote_of("https://oauth2:t0k@n%2F1@gitlab.example.com:8443/group/repo.git")

    environment = git_environment(remote)

    assert remote.url == "https://gitlab.example.com:8443/group/repo.git"
    assert "t0k" not in " ".join(clone_command(remote, tmp_path / "mirror.git"))
    assert "t0k" not in repr(remote)
    header = base64.b64encode(b"oauth2:t0k@n/1").decode()
    configured = configuration(environment)
    # sent to that host only, not to one a redirect leads to
    assert configured["http.https://gitlab.example.com:8443/.extraHeader"] == f"Authorization: Basic {header}"
    assert (
        remote_of("ssh://git@gitlab.example.com/group/repo.git").url
        == "ssh://git@gitlab.example.com/group/repo.git"
    )
    assert remote_of("https://gitlab.example.com/group/repo.git").authorization is None


async def registration(settings: Settings, admin_token: str, clone_url: str) -> httpx.Response:
    """The admin API's answer to registering `clone_url` while `git@gitlab.example.com:` and
    `https://gitlab.example.com/group/` are the allowed prefixes."""
    prefixes = ["git@gitlab.example.com:", "https://gitlab.example.com/group/"]
    allowing = settings.model_copy(update={"webhook_allowed_clone_url_prefixes": prefixes})
    body = {"provider": "gitlab", "project": unique_project(), "secret": SECRET, "clone_url": clone_url}
    async with running_listener(allowing, admin_token) as listener:
        return await listener.client.post("/api/v2/repositories", json=body, headers=listener.admin)


@pytest.mark.parametrize("clone_url", ["git@[::1]:group/repo.git", "[gitlab.example.com]:group/repo.git"])
async def test_a_clone_url_that_cannot_be_read_is_refused_at_registration(
    settings: Settings, admin_token: str, clone_url: str
) -> None:
    response = await registration(settings, admin_token, clone_url)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"] == "The clone URL cannot be read as a URL."


@pytest.mark.parametrize(
    "clone_url",
    [
        "https://gitlab.example.com/group/../other/repo.git",
        "https://gitlab.example.com/group/%2E%2e/other/repo.git",
        "git@gitlab.example.com:group/../../other/repo.git",
    ],
)
async def test_a_clone_url_with_dot_segments_is_refused_at_registration(
    settings: Settings, admin_token: str, clone_url: str
) -> None:
    response = await registration(settings, admin_token, clone_url)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"] == "The clone URL has a '.' or '..' segment in its path."


async def test_deliveries_of_a_registered_clone_url_that_cannot_be_read_fail_saying_so(
    listener: Listener, origin: Origin, settings: Settings
) -> None:
    project = await registered(listener, origin)
    # registered by an earlier version, which let such a URL through
    engine = create_async_engine(settings.listener_database_url)
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE repository SET clone_url = :url WHERE path = :path"),
            {"url": "git@[::1]:group/repo.git", "path": project},
        )
    await engine.dispose()

    queued = await listener.client.post(
        "/api/v2/reconcile", params={"project": project, "provider": "gitlab"}, headers=listener.admin
    )
    settled = await listener.settled(project)

    assert queued.status_code == 202, queued.text
    assert settled[0]["state"] == "failed"
    assert settled[0]["reason"] == "the registered clone URL cannot be read as a URL"
