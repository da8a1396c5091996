"""qa_api as operators run it: `python -m qa_api` in its own process, on a loopback port.

The process logs one JSON object per line to a file; its access lines (`METHOD /path STATUS 1.2ms`) are
how the tests see which requests the `qa` CLI made and what it got back, since the CLI only prints a
warning when a request fails.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from qahub_shared.auth.keys import generate_pem
from tests.processes import free_port, running, service_env


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


@contextmanager
def running_qa_api(
    database_url: str, workdir: Path, *, settings: Mapping[str, str] | None = None
) -> Iterator[LiveQaApi]:
    """Start `python -m qa_api` in `workdir` on `database_url` (already migrated), with `settings` (more
    QAHUB_* variables) on top of the test's own; stop it on exit."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    key_file = workdir / "signing-key.pem"
    key_file.write_text(generate_pem())
    key_file.chmod(0o600)
    env = service_env(
        QAHUB_DATABASE_URL=database_url,
        QAHUB_JWT_SIGNING_KEY_FILE=str(key_file),
        QAHUB_ADMIN_PASSWORD=ADMIN_PASSWORD,
        QAHUB_QA_API_HOST="127.0.0.1",
        QAHUB_QA_API_PORT=str(port),
        QAHUB_LOG_JSON="true",
        **(settings or {}),
    )
    server = LiveQaApi(url, workdir / "qa_api.log")
    with running("qa_api", env=env, workdir=workdir, url=url, log_path=server.log_path):
        yield server
