"""qa_api as operators run it: `python -m qa_api` in its own process, on a loopback port.

The process logs one JSON object per line to a file; its access lines (`METHOD /path STATUS 1.2ms`) are
how the tests see which requests the `qa` CLI made and what it got back, since the CLI only prints a
warning when a request fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from qahub_shared.auth.keys import generate_pem

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class AccessLine:
    """One request the server answered."""

    method: str
    path: str
    status: int

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status}"


ADMIN_PASSWORD = "e2e-admin-password"


class LiveQaApi:
    """A running qa_api process: its base URL, its log, and the password of its first admin."""

    def __init__(self, url: str, log_path: Path) -> None:
        self.url = url
        self.log_path = log_path
        self.admin_username = "admin"
        self.admin_password = ADMIN_PASSWORD

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def mark(self) -> int:
        """A position in the log after every request made so far; see `requests_since`."""
        self._wait_for_log_to_catch_up()
        return self.log_path.stat().st_size

    def requests_since(self, mark: int) -> list[AccessLine]:
        """Requests answered since `mark`, once the server has logged all those made before this call."""
        self._wait_for_log_to_catch_up()
        with self.log_path.open("rb") as log:
            log.seek(mark)
            lines = log.read().decode(errors="replace").splitlines()
        return [line for line in map(_access_line, lines) if line and line.path != "/healthz"]

    def _wait_for_log_to_catch_up(self) -> None:
        # An access line is written just after its response is sent, so a client can be faster than the
        # log. A request of our own, made after the others were answered, is logged after them: once
        # its line is in the file, theirs are too.
        request_id = f"e2e-{uuid.uuid4().hex}"
        httpx.get(
            f"{self.url}/healthz", headers={"X-Request-ID": request_id}, timeout=5, trust_env=False
        ).raise_for_status()
        deadline = time.monotonic() + 5
        while request_id not in self.log():
            if time.monotonic() > deadline:
                raise AssertionError(f"qa_api did not log request {request_id}:\n{self.log()}")
            time.sleep(0.02)


def _access_line(line: str) -> AccessLine | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or record.get("logger") != "qahub.access":
        return None
    method, path, status, _duration = str(record["message"]).split(" ")
    return AccessLine(method=method, path=path, status=int(status))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running_qa_api(database_url: str, workdir: Path) -> Iterator[LiveQaApi]:
    """Start `python -m qa_api` on `database_url` (already migrated); stop it on exit."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    # Only our settings: a developer's QAHUB_* variables must not change what is under test.
    env = {key: value for key, value in os.environ.items() if not key.startswith("QAHUB_")}
    key_file = workdir / "signing-key.pem"
    key_file.write_text(generate_pem())
    key_file.chmod(0o600)
    env.update(
        QAHUB_DATABASE_URL=database_url,
        QAHUB_JWT_SIGNING_KEY_FILE=str(key_file),
        QAHUB_ADMIN_PASSWORD=ADMIN_PASSWORD,
        QAHUB_QA_API_HOST="127.0.0.1",
        QAHUB_QA_API_PORT=str(port),
        QAHUB_LOG_JSON="true",
    )
    log_path = workdir / "qa_api.log"
    with log_path.open("wb") as log:
        # cwd: away from any `.env` file the settings would read
        process = subprocess.Popen(
            [sys.executable, "-m", "qa_api"], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    server = LiveQaApi(url, log_path)
    try:
        _wait_until_ready(process, server)
        yield server
    finally:
        _stop(process)


def _wait_until_ready(process: subprocess.Popen[bytes], server: LiveQaApi) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"qa_api exited with {process.returncode} on start:\n{server.log()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{server.url}/readyz", timeout=1, trust_env=False).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"qa_api was not ready after {READY_TIMEOUT_S:.0f}s:\n{server.log()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
