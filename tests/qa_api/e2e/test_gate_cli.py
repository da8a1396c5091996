"""`qahub gate` as a CI job runs it: the real `qahub` process against a live qa_api, with runs reported
through the qa CLI's route. Exit 0 on pass, 1 on fail with what got worse, 2 when it cannot decide."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import free_port
from tests.qa_api.builders import output_report
from tests.qa_api.e2e.conftest import Qahub, create_token
from tests.qa_api.e2e.qa_api_process import LiveQaApi

pytestmark = pytest.mark.e2e

QAHUB = str(Path(sys.executable).parent / "qahub")


def _sha(n: int) -> str:
    return (f"{n:x}" * 40)[:40]


@pytest.fixture(scope="module")
def writer_token(qahub: Qahub) -> str:
    return create_token(qahub, "--name", "gate-tests", "--scope", "runs:write", "--expires", "1d")


@pytest.fixture(scope="module")
def writer(qa_api_server: LiveQaApi, writer_token: str) -> Iterator[httpx.Client]:
    """Reports runs as the qa CLI does (POST /api/v1/output/)."""
    headers = {"Authorization": f"Bearer {writer_token}"}
    with httpx.Client(base_url=qa_api_server.url, headers=headers, timeout=10, trust_env=False) as client:
        yield client


@pytest.fixture
def project() -> str:
    """A project of the test's own: the live server's database is shared by the session."""
    return f"gate/p-{uuid.uuid4().hex[:8]}"


def report(
    writer: httpx.Client, project: str, n: int, name: str, stage: str = "finished", **fields: Any
) -> None:
    """A run of input `name` on commit `n` (a child of commit `n - 1`) at `stage`."""
    body = output_report(
        name,
        stage=stage,
        project=project,
        sha=_sha(n),
        commit_parents=[_sha(n - 1)] if n > 1 else [],
        commit_authored_datetime=f"2026-11-{n:02d}T12:00:00+00:00",
        **fields,
    )
    response = writer.post("/api/v1/output/", json=body)
    assert response.status_code == 200, response.text


def runs(writer: httpx.Client, project: str, n: int, metrics_by_input: Mapping[str, dict[str, Any]]) -> None:
    for name, metrics in metrics_by_input.items():
        report(writer, project, n, name, metrics=metrics)


def reference_and_regression(writer: httpx.Client, project: str) -> None:
    """Commit 1 the reference; commit 2 better on A.jpg, worse on B.jpg's psnr."""
    runs(writer, project, 1, {"A.jpg": {"psnr": 40.0, "loss": 1.0}, "B.jpg": {"psnr": 40.0, "loss": 1.0}})
    runs(writer, project, 2, {"A.jpg": {"psnr": 44.0, "loss": 1.0}, "B.jpg": {"psnr": 30.0, "loss": 1.0}})


def test_a_commit_no_worse_than_its_reference_passes_with_exit_0(
    qahub: Qahub, writer: httpx.Client, project: str
) -> None:
    runs(writer, project, 1, {"A.jpg": {"psnr": 40.0, "loss": 1.0}})
    runs(writer, project, 2, {"A.jpg": {"psnr": 44.0, "loss": 1.0}})

    # qahub's own server (QAHUB_API_URL) and stored login win over the qa CLI's variables
    qa_cli = {"QABOARD_HOST": f"127.0.0.1:{free_port()}", "QA_TOKEN": "not-a-token"}
    gate = qahub("gate", "--project", project, "--commit", _sha(2), env=qa_cli)

    assert gate.returncode == 0, gate.stderr
    assert gate.stdout.startswith(f"PASS: {project} {_sha(2)[:8]} batch default against {_sha(1)[:8]}")
    assert "psnr    1       0      0     0    0        better" in gate.stdout
    assert gate.stderr.strip().splitlines()[-1] == "qahub gate: pass: 1 output: none worse, 1 better"


def test_a_regression_fails_with_exit_1_and_a_table_of_what_got_worse(
    qahub: Qahub, writer: httpx.Client, project: str
) -> None:
    reference_and_regression(writer, project)

    gate = qahub("gate", "--project", project, "--commit", _sha(2))

    assert gate.returncode == 1, gate.stderr
    lines = gate.stdout.splitlines()
    assert lines[0].startswith("FAIL: ")
    assert "  1 output worse on psnr" in lines
    worse = next(line for line in lines if line.startswith("B.jpg"))
    assert worse.split() == ["B.jpg", "linux", "psnr", "30", "40", "-25.0%"]
    assert "qahub gate: fail: 1 output worse on psnr" in gate.stderr


def test_json_prints_only_the_verdict_on_stdout(qahub: Qahub, writer: httpx.Client, project: str) -> None:
    reference_and_regression(writer, project)

    gate = qahub("gate", "--project", project, "--commit", _sha(2), "--json")

    assert gate.returncode == 1, gate.stderr
    verdict = json.loads(gate.stdout)
    assert (verdict["status"], verdict["commit"], verdict["worse_count"]) == ("fail", _sha(2), 1)
    assert verdict["worse"][0]["metrics"]["psnr"]["delta_percent"] == -25.0


def test_an_unknown_commit_is_an_error_with_exit_2(qahub: Qahub, writer: httpx.Client, project: str) -> None:
    runs(writer, project, 1, {"A.jpg": {"psnr": 40.0}})

    gate = qahub("gate", "--project", project, "--commit", "f00dfeed")

    assert gate.returncode == 2
    assert gate.stdout == ""
    (line,) = gate.stderr.strip().splitlines()
    assert "f00dfeed" in line
    assert "HTTP 404" in line


def test_a_bad_token_is_an_error_with_exit_2(qahub: Qahub, writer: httpx.Client, project: str) -> None:
    runs(writer, project, 1, {"A.jpg": {"psnr": 40.0}})

    gate = qahub("gate", "--project", project, "--commit", _sha(1), env={"QAHUB_TOKEN": "not-a-token"})

    assert gate.returncode == 2
    assert gate.stdout == ""
    assert "HTTP 401" in gate.stderr


def test_an_unreachable_server_is_an_error_with_exit_2(qahub: Qahub) -> None:
    url = f"http://127.0.0.1:{free_port()}"

    gate = qahub("gate", "--project", "gate/none", "--commit", _sha(1), env={"QAHUB_API_URL": url})

    assert gate.returncode == 2
    assert f"cannot reach {url}" in gate.stderr


def test_the_gate_waits_while_runs_are_pending_and_passes_once_they_finish(
    qahub: Qahub, writer: httpx.Client, project: str
) -> None:
    runs(writer, project, 1, {"A.jpg": {"psnr": 40.0}, "B.jpg": {"psnr": 40.0}})
    report(writer, project, 2, "A.jpg", "queued")
    report(writer, project, 2, "B.jpg", "running")
    args = ["gate", "--project", project, "--commit", _sha(2), "--interval", "0.2s", "--timeout", "60s"]
    waiting = subprocess.Popen(
        [QAHUB, *args], env=qahub.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert waiting.stderr is not None
        first = waiting.stderr.readline()
        assert "outputs 0/2 done" in first, first
        report(writer, project, 2, "A.jpg", metrics={"psnr": 40.0})
        report(writer, project, 2, "B.jpg", metrics={"psnr": 40.0})
        stdout, stderr = waiting.communicate(timeout=60)
    finally:
        waiting.kill()
        waiting.wait()

    assert waiting.returncode == 0, first + stderr
    assert stdout.startswith("PASS: ")
    progress = [line for line in (first + stderr).splitlines() if "waiting for" in line]
    # not a terminal: a line when the count changes, not one per poll
    assert len(progress) == len(set(progress))
    assert "qahub gate: pass: 2 outputs: none worse, 0 better" in stderr


def test_still_pending_when_the_timeout_expires_is_an_error_with_exit_2(
    qahub: Qahub, writer: httpx.Client, project: str
) -> None:
    runs(writer, project, 1, {"A.jpg": {"psnr": 40.0}})
    report(writer, project, 2, "A.jpg", "queued")

    gate = qahub("gate", "--project", project, "--commit", _sha(2), "--interval", "0.2s", "--timeout", "1s")

    assert gate.returncode == 2
    assert gate.stdout == ""
    assert gate.stderr.strip().splitlines()[-1] == "qahub gate: still pending after 1s (0/1 outputs done)"


def test_in_gitlab_ci_the_project_and_commit_come_from_the_job_and_the_server_from_qaboard_host(
    qa_api_server: LiveQaApi, writer: httpx.Client, writer_token: str, project: str, tmp_path: Path
) -> None:
    reference_and_regression(writer, project)
    # a GitLab job's environment, as the qa CLI reads it: no QAHUB_* variable at all
    env = {key: value for key, value in os.environ.items() if not key.startswith(("QAHUB_", "QABOARD_"))}
    env.update(
        CI="true",
        CI_PROJECT_PATH=project,
        CI_COMMIT_SHA=_sha(2),
        QABOARD_HOST=qa_api_server.url.removeprefix("http://"),
        QA_TOKEN=writer_token,
        QAHUB_CONFIG_DIR=str(tmp_path / "no-login"),
    )

    def gate(**more: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [QAHUB, "gate", "--json"], env=env | more, capture_output=True, text=True, timeout=60, check=False
        )

    gated = gate()
    # the qa CLI's token is the one sent: a wrong one is refused
    refused = gate(QA_TOKEN="not-a-token")

    assert gated.returncode == 1, gated.stderr
    verdict = json.loads(gated.stdout)
    assert (verdict["project"], verdict["commit"]) == (project, _sha(2))
    assert refused.returncode == 2
    assert "HTTP 401" in refused.stderr
