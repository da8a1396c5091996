"""The listener as operators run it (`python -m webhook_listener`), driven by `qahub repo` and by webhooks
over real HTTP; SIGTERM stops it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import STOP_TIMEOUT_S, free_port, running, service_env
from tests.webhook_listener import payloads
from tests.webhook_listener.conftest import SECRET, unique_project
from tests.webhook_listener.gitrepo import ZERO, Origin
from tests.webhook_listener.qa_api_server import QaApiProcess


class ListenerProcess:
    def __init__(self, process: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.process = process
        self.url = url
        self.log = log


@pytest.fixture
def listener_process(
    database_url: str, qa_api: QaApiProcess, commits_token: str, tmp_path: Path
) -> Iterator[ListenerProcess]:
    port = free_port()
    env = service_env(
        QAHUB_WEBHOOK_DATABASE_URL=database_url,
        QAHUB_API_URL=qa_api.url,
        QAHUB_WEBHOOK_PORT=str(port),
        QAHUB_WEBHOOK_ALLOW_FILE_URLS="true",
        QAHUB_WEBHOOK_QA_API_TOKEN=commits_token,
        QAHUB_WEBHOOK_POLL_SECONDS="0.2",
        QAHUB_DATA_DIR=str(tmp_path / "data"),
        QAHUB_LOG_LEVEL="DEBUG",
    )
    url, log = f"http://127.0.0.1:{port}", tmp_path / "listener.log"
    with running("webhook_listener", env=env, workdir=tmp_path, url=url, log_path=log) as process:
        yield ListenerProcess(process, url, log)


def qahub(
    listener: ListenerProcess, qa_api: QaApiProcess, token: str, *args: str
) -> subprocess.CompletedProcess[str]:
    env = service_env(QAHUB_API_URL=qa_api.url, QAHUB_WEBHOOK_URL=listener.url, QAHUB_TOKEN=token)
    return subprocess.run(
        [str(Path(sys.executable).parent / "qahub"), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_qahub_repo_registers_a_repository_whose_pushes_then_reach_qa_api(
    listener_process: ListenerProcess, qa_api: QaApiProcess, admin_token: str, origin: Origin
) -> None:
    project = unique_project()
    pushed = origin.commit()
    origin.push("HEAD:refs/heads/main")

    added = qahub(
        listener_process,
        qa_api,
        admin_token,
        *("repo", "add", "--provider", "gitlab", "--project", project),
        *("--secret", SECRET, "--clone-url", origin.url),
    )
    body = json.dumps(
        payloads.gitlab_push(project, ref="refs/heads/main", before=ZERO, after=pushed, commits=[pushed])
    ).encode()
    hook = httpx.post(
        f"{listener_process.url}/webhooks/gitlab",
        content=body,
        headers=payloads.gitlab_headers(SECRET),
        timeout=10,
        trust_env=False,
    )
    deliveries: list[dict[str, Any]] = []
    for _ in range(300):
        listed = qahub(
            listener_process, qa_api, admin_token, "repo", "deliveries", "--project", project, "--json"
        )
        deliveries = json.loads(listed.stdout)
        if deliveries and all(d["state"] == "done" for d in deliveries):
            break
        time.sleep(0.1)
    listed_repos = qahub(listener_process, qa_api, admin_token, "repo", "list", "--json")
    removed = qahub(
        listener_process, qa_api, admin_token, "repo", "remove", "--provider", "gitlab", "--project", project
    )
    refused = httpx.post(
        f"{listener_process.url}/webhooks/gitlab",
        content=body,
        headers=payloads.gitlab_headers(SECRET),
        timeout=10,
        trust_env=False,
    )

    assert added.returncode == 0, added.stderr
    assert hook.status_code == 202, hook.text
    assert {d["state"] for d in deliveries} == {"done"}, deliveries
    commit = httpx.get(f"{qa_api.url}/api/v1/commit/{pushed}", params={"project": project}, trust_env=False)
    assert commit.json()["branches"] == ["main"]
    assert project in [repo["project"] for repo in json.loads(listed_repos.stdout)]
    assert SECRET not in listed_repos.stdout
    assert removed.returncode == 0, removed.stderr
    assert refused.status_code == 401
    assert SECRET not in listener_process.log.read_text()

    listener_process.process.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then exits with the signal it was stopped by
    assert listener_process.process.wait(timeout=STOP_TIMEOUT_S) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in listener_process.log.read_text()


def test_qahub_repo_finds_the_listener_on_the_port_it_listens_on(
    listener_process: ListenerProcess, qa_api: QaApiProcess, admin_token: str, tmp_path: Path
) -> None:
    # no QAHUB_WEBHOOK_URL: the listener's own QAHUB_WEBHOOK_PORT says where it is (as in the `.env` of
    # the checkout `make run` and `./qahub` share: tests/test_readme.py)
    port = listener_process.url.rsplit(":", 1)[1]

    listed = subprocess.run(
        [str(Path(sys.executable).parent / "qahub"), "repo", "list", "--json"],
        cwd=tmp_path,
        env=service_env(QAHUB_API_URL=qa_api.url, QAHUB_TOKEN=admin_token, QAHUB_WEBHOOK_PORT=port),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert listed.returncode == 0, listed.stderr
    assert isinstance(json.loads(listed.stdout), list)
