"""qa_api as a process on a fixed loopback port, which a test may stop and start again (qa_api down for a
while, then up). The same signing key every time, so tokens it issued stay valid across restarts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from qahub_shared.auth.keys import generate_pem
from tests.processes import free_port, service_env, start, stop, wait_until_ready
from tests.qa_api.e2e.qa_api_process import ADMIN_PASSWORD, LiveQaApi


class QaApiProcess:
    def __init__(self, database_url: str, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._database_url = database_url
        self._workdir = workdir
        self._key_file = workdir / "signing-key.pem"
        self._key_file.write_text(generate_pem())
        self._key_file.chmod(0o600)
        self._process: subprocess.Popen[bytes] | None = None
        self.live = LiveQaApi(self.url, workdir / "qa_api.log")

    def start(self) -> None:
        env = service_env(
            QAHUB_DATABASE_URL=self._database_url,
            QAHUB_JWT_SIGNING_KEY_FILE=str(self._key_file),
            QAHUB_ADMIN_PASSWORD=ADMIN_PASSWORD,
            QAHUB_QA_API_HOST="127.0.0.1",
            QAHUB_QA_API_PORT=str(self.port),
            QAHUB_LOG_JSON="true",
            # every listener test logs in from the same address
            QAHUB_LOGIN_ATTEMPTS_PER_ADDRESS="100000",
        )
        self._process = start("qa_api", env=env, workdir=self._workdir, log_path=self.live.log_path)
        wait_until_ready(self._process, self.url, self.live.log_path)

    def stop(self) -> None:
        if self._process is not None:
            stop(self._process)
            self._process = None

    def admin_token(self) -> str:
        login = httpx.post(
            f"{self.url}/api/v2/auth/login",
            json={"username": "admin", "password": ADMIN_PASSWORD},
            timeout=10,
            trust_env=False,
        )
        login.raise_for_status()
        token: str = login.json()["access_token"]
        return token

    def create_token(
        self, admin_token: str, *, name: str, scopes: list[str], projects: list[str] | None = None
    ) -> str:
        created = httpx.post(
            f"{self.url}/api/v2/tokens",
            json={"name": name, "scopes": scopes, "projects": projects},
            headers={"Authorization": f"Bearer {admin_token}"},
            timeout=10,
            trust_env=False,
        )
        created.raise_for_status()
        token: str = created.json()["access_token"]
        return token
