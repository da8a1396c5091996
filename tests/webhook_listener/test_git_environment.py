"""The listener's git runs as the listener means it to, whatever the machine's git configuration says."""

from __future__ import annotations

import textwrap
from pathlib import Path

import httpx
import pytest

from tests.webhook_listener.conftest import Listener
from tests.webhook_listener.gitrepo import Origin
from tests.webhook_listener.test_git_sync import history, push_branch, registered


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
