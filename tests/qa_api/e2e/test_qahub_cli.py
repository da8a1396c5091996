"""The `qahub` command as scripts use it, against a live qa_api."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from tests.qa_api.e2e.conftest import Qahub, create_token
from tests.qa_api.e2e.qa_api_process import LiveQaApi
from tests.servers import ROOT

pytestmark = pytest.mark.e2e


def test_login_stores_the_token_readable_by_its_owner_only(qa_api_server: LiveQaApi, tmp_path: Path) -> None:
    qahub = Qahub(qa_api_server, tmp_path / "config")

    login = qahub("login", "--username", "admin", "--password", qa_api_server.admin_password)
    whoami = qahub("whoami", "--json")

    assert login.returncode == 0, login.stderr
    assert login.stdout == ""
    credentials = tmp_path / "config" / "credentials.json"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert list(json.loads(credentials.read_text())["servers"]) == [qa_api_server.url]
    assert json.loads(whoami.stdout)["username"] == "admin"


def test_qahub_token_overrides_the_stored_login(qahub: Qahub) -> None:
    token = create_token(qahub, "--name", "reader", "--scope", "runs:read", "--project", "acme/vision")

    whoami = qahub("whoami", "--json", env={"QAHUB_TOKEN": token})

    assert whoami.returncode == 0, whoami.stderr
    me = json.loads(whoami.stdout)
    assert me["kind"] == "api"
    assert me["projects"] == ["acme/vision"]


def test_errors_go_to_stderr_with_the_servers_message_and_exit_1(
    qahub: Qahub, qa_api_server: LiveQaApi, tmp_path: Path
) -> None:
    bad_scope = qahub("token", "create", "--name", "x", "--scope", "runs:everything")
    anonymous = Qahub(qa_api_server, tmp_path / "never-logged-in")("token", "list")
    bad_expiry = qahub("token", "create", "--name", "x", "--scope", "runs:read", "--expires", "soon")

    assert bad_scope.returncode == 1
    assert bad_scope.stdout == ""
    assert "scopes" in bad_scope.stderr
    assert "HTTP 422" in bad_scope.stderr
    assert anonymous.returncode == 1
    assert "not logged in" in anonymous.stderr
    assert bad_expiry.returncode == 2
    assert "90d" in bad_expiry.stderr


def test_a_revoked_token_disappears_from_the_active_list(qahub: Qahub) -> None:
    token = create_token(qahub, "--name", "short", "--scope", "runs:read")
    token_id = json.loads(qahub("whoami", "--json", env={"QAHUB_TOKEN": token}).stdout)["token_id"]

    revoked = qahub("token", "revoke", token_id)
    active = json.loads(qahub("token", "list", "--json").stdout)
    everything = json.loads(qahub("token", "list", "--include-inactive", "--json").stdout)

    assert revoked.returncode == 0, revoked.stderr
    assert token_id not in [item["id"] for item in active]
    assert [item["active"] for item in everything if item["id"] == token_id] == [False]


def fresh_shell(home: Path) -> dict[str, str]:
    """The environment of a fresh login shell on Debian: no QAHUB_* variable, and uv not on PATH but in
    ~/.local/bin, where `make run` installed it (here: the uv running this suite, linked there)."""
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "the suite runs under `uv run`, which names itself in $UV"
    (home / ".local" / "bin").mkdir(parents=True)
    (home / ".local" / "bin" / "uv").symlink_to(uv)
    return {"HOME": str(home), "PATH": "/usr/bin:/bin"}


def test_a_dotenv_in_the_current_directory_does_not_choose_where_the_token_goes(
    qa_api_server: LiveQaApi, tmp_path: Path
) -> None:
    # `qahub gate` runs in CI inside the checkout of the project under test: a `.env` there (a fork's
    # merge request can add one) must not send the job's token to a server of its choosing. The `.env`
    # qahub reads is its own checkout's (tests/test_readme.py moves ports there).
    seen: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            self.send_response(500)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    recorder = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=recorder.serve_forever, daemon=True).start()
    project = tmp_path / "checkout"
    project.mkdir()
    (project / ".env").write_text(
        f"QAHUB_API_URL=http://127.0.0.1:{recorder.server_address[1]}\nQAHUB_CONFIG_DIR={project}\n"
    )
    port = qa_api_server.url.rsplit(":", 1)[1]
    env = {**fresh_shell(tmp_path / "home"), "QAHUB_QA_API_PORT": port, "QAHUB_TOKEN": "ci-secret-token"}
    try:
        whoami = subprocess.run(
            [str(ROOT / "qahub"), "whoami"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    finally:
        recorder.shutdown()
        recorder.server_close()

    assert seen == []
    # qa_api, on the port the environment names, refused the token
    assert whoami.returncode == 1
    assert f"http://127.0.0.1:{port}" in whoami.stderr or "HTTP 401" in whoami.stderr, whoami.stderr


def test_the_wrapper_without_uv_says_how_to_get_it(tmp_path: Path) -> None:
    if shutil.which("uv", path="/usr/bin:/bin"):
        pytest.skip("uv is installed system-wide here: the wrapper finds it")
    found = subprocess.run(
        [str(ROOT / "qahub"), "whoami"],
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )

    assert found.returncode == 127
    assert "`make run`" in found.stderr
    assert "~/.local/bin" in found.stderr


def test_help_says_where_the_server_address_comes_from(qahub: Qahub) -> None:
    shown = qahub("--help")
    text = " ".join(shown.stdout.split())  # as wrapped for any terminal width

    assert shown.returncode == 0
    assert "http://$QAHUB_QA_API_HOST:$QAHUB_QA_API_PORT" in text
    assert "a host of 0.0.0.0 or :: means this machine" in text
    assert "never from the current directory's" in text
