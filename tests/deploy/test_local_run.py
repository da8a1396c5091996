"""`make run` (deploy/local/run.sh) as a new user runs it, with the real PostgreSQL and InfluxDB it starts
itself: from a copy of the tree (so no developer's `.env` or `.data` is in the way), with a temporary data
dir, every port moved to a free one and no other QAHUB_* variable.

Each start takes a while: the tests on a running instance share the module's first start (`make run`),
which the SIGTERM test stops and the token test starts again.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 60.0
PORTS = [
    "QAHUB_PG_PORT",
    "QAHUB_INFLUX_PORT",
    "QAHUB_QA_API_PORT",
    "QAHUB_METRICS_BROKER_PORT",
    "QAHUB_WEBHOOK_PORT",
]
SERVICES = ["QAHUB_QA_API_PORT", "QAHUB_METRICS_BROKER_PORT", "QAHUB_WEBHOOK_PORT"]
ADMIN = {"username": "admin", "password": "qahub-dev-admin"}


@dataclass
class Run:
    """One `make run` or run.sh of a data dir, its output in `log`."""

    process: subprocess.Popen[bytes]
    make: bool
    data_dir: Path
    ports: dict[str, int]
    log: Path

    def url(self, port: str) -> str:
        return f"http://127.0.0.1:{self.ports[port]}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        for port in SERVICES:
            while not _ready(self.url(port)):
                if self.process.poll() is not None:
                    raise AssertionError(f"exited with {self.process.returncode}:\n{self.output()}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"not ready after {START_TIMEOUT_S:.0f} s:\n{self.output()}")
                time.sleep(0.1)

    def script_pid(self) -> int:
        """run.sh's own pid: under `make run`, make's child (make runs `exec deploy/local/run.sh`)."""
        if not self.make:
            return self.process.pid
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return int(children[0])

    def wait(self) -> int:
        try:
            return self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running {STOP_TIMEOUT_S:.0f} s later:\n{self.output()}") from None

    def end(self) -> None:
        """Stop it if it still runs (SIGTERM to the script), whatever the test did."""
        if self.process.poll() is None:
            os.kill(self.script_pid(), signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2, trust_env=False).status_code == 200
    except httpx.TransportError:
        return False


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _processes_of(data_dir: Path) -> dict[int, str]:
    """The processes started with this QAHUB_DATA_DIR (servers and services inherit the script's
    environment): their command lines by pid."""
    needle = f"QAHUB_DATA_DIR={data_dir}\0".encode()
    found = {}
    for process in Path("/proc").iterdir():
        try:
            if process.name.isdigit() and needle in (process / "environ").read_bytes():
                found[int(process.name)] = (process / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
    return found


def _modes_above(path: Path) -> dict[Path, int]:
    return {parent: stat.S_IMODE(parent.stat().st_mode) for parent in path.parents}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the working tree's files (tracked, and untracked but not ignored: no `.env`, no `.data`),
    with an environment of its own, synced from uv's cache."""
    copy = tmp_path_factory.mktemp("tree")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    subprocess.run(["uv", "sync", "--frozen", "--quiet"], cwd=copy, env=_env(), check=True)
    return copy


def _env(**settings: str) -> dict[str, str]:
    """This process's environment without any QAHUB_* variable nor this virtualenv, plus `settings`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("QAHUB_") and key not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")
    }
    uv = shutil.which("uv") or str(Path.home() / ".local/bin/uv")
    env["PATH"] = f"{Path(uv).parent}:{env.get('PATH', '')}"
    env.update(settings)
    return env


class Runs:
    """Starts runs of data dirs in a tree, and cleans up after them."""

    def __init__(self, tree: Path, folder: Path) -> None:
        self.tree = tree
        self.folder = folder
        self.runs: list[Run] = []

    def data_dir(self, name: str) -> tuple[Path, dict[str, int]]:
        return self.folder / name, {port: free_port() for port in PORTS}

    def env(self, data_dir: Path, ports: dict[str, int]) -> dict[str, str]:
        return _env(QAHUB_DATA_DIR=str(data_dir), **{name: str(port) for name, port in ports.items()})

    def start(self, data_dir: Path, ports: dict[str, int], *, make: bool = False) -> Run:
        log = self.folder / f"{data_dir.name}-{len(self.runs)}.log"
        command = ["make", "run"] if make else [str(self.tree / "deploy/local/run.sh")]
        with log.open("wb") as output:
            process = subprocess.Popen(
                command,
                cwd=self.tree,
                env=self.env(data_dir, ports),
                stdout=output,
                stderr=subprocess.STDOUT,
                # as a terminal runs it: the leader of its process group, which a Ctrl-C signals as a whole
                start_new_session=True,
            )
        run = Run(process, make, data_dir, ports, log)
        self.runs.append(run)
        return run

    def clean_up(self) -> None:
        for run in self.runs:
            run.end()
        for data_dir in {run.data_dir for run in self.runs}:
            # whatever a failed test left running, then the files of servers kept outside the data dir
            for script, name in (("postgres.sh", "postgres"), ("influxdb.sh", "influxdb")):
                subprocess.run([self.tree / "deploy/local" / script, "stop", data_dir / name], check=False)
            for pid in _processes_of(data_dir):
                os.kill(pid, signal.SIGKILL)
            for name in ("postgres", "influxdb"):
                if (data_dir / name).is_symlink():
                    shutil.rmtree((data_dir / name).resolve(), ignore_errors=True)


@pytest.fixture(scope="module")
def runs(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    started = Runs(tree, tmp_path_factory.mktemp("runs"))
    try:
        yield started
    finally:
        started.clean_up()


@dataclass
class FirstRun:
    run: Run
    modes_before: dict[Path, int]


@pytest.fixture(scope="module")
def first_run(runs: Runs) -> FirstRun:
    """The first `make run` of a data dir, up and ready."""
    data_dir, ports = runs.data_dir("data")
    modes_before = _modes_above(data_dir)
    run = runs.start(data_dir, ports, make=True)
    run.wait_until_ready()
    return FirstRun(run, modes_before)


def test_a_second_run_of_the_same_data_dir_refuses_to_start_and_the_first_keeps_working(
    runs: Runs, first_run: FirstRun
) -> None:
    first = first_run.run

    second = runs.start(first.data_dir, first.ports)

    assert second.wait() != 0
    message = f"another `make run` (pid {first.script_pid()}) uses {first.data_dir}; stop it first"
    assert message in second.output()
    for port in SERVICES:
        assert httpx.get(f"{first.url(port)}/readyz", trust_env=False).status_code == 200, first.output()
    # its databases are up: a TF-A payload goes through the broker into InfluxDB
    broker = first.url("QAHUB_METRICS_BROKER_PORT")
    token = httpx.post(f"{broker}/auth", json=ADMIN, trust_env=False).json()["access_token"]
    payload = (ROOT / "tests/metrics_broker/fixtures/code_churn.json").read_bytes()
    posted = httpx.post(
        f"{broker}/",
        content=payload,
        headers={"Content-Type": "application/json", "Authorization": f"JWT {token}"},
        trust_env=False,
    )
    assert posted.status_code == 204, posted.text
    query = httpx.get(
        f"http://127.0.0.1:{first.ports['QAHUB_INFLUX_PORT']}/query",
        params={"db": "TFA_CodeChurn", "q": 'SELECT * FROM "TFA_CodeChurn_Tracking"'},
        trust_env=False,
    )
    assert query.json()["results"][0]["series"][0]["values"], query.text


def test_a_run_that_finds_a_port_taken_names_it_and_starts_nothing(runs: Runs, first_run: FirstRun) -> None:
    data_dir, ports = runs.data_dir("other")
    ports["QAHUB_QA_API_PORT"] = first_run.run.ports["QAHUB_QA_API_PORT"]

    other = runs.start(data_dir, ports)

    assert other.wait() == 1
    assert f"port {ports['QAHUB_QA_API_PORT']} (QAHUB_QA_API_PORT) is in use" in other.output()
    assert sorted(path.name for path in data_dir.iterdir()) == ["run.lock"]
    assert not any(_listening(ports[port]) for port in PORTS if port != "QAHUB_QA_API_PORT")


def test_the_local_postgres_asks_for_its_password_and_no_folder_above_the_data_dir_changes(
    first_run: FirstRun,
) -> None:
    run = first_run.run

    async def connect_without_password() -> None:
        connection = await asyncpg.connect(
            host="127.0.0.1", port=run.ports["QAHUB_PG_PORT"], user="postgres", database="qahub", timeout=10
        )
        await connection.close()

    with pytest.raises(asyncpg.InvalidPasswordError):
        asyncio.run(connect_without_password())
    password = (run.data_dir / "postgres/password").read_text().strip()
    assert len(password) >= 32
    # the log shows the URL, not the password in it
    assert f"local PostgreSQL: postgresql://postgres:***@127.0.0.1:{run.ports['QAHUB_PG_PORT']}/qahub" in (
        run.output()
    )
    assert password not in run.output()
    assert stat.S_IMODE((run.data_dir / "postgres/password").stat().st_mode) == 0o600
    assert _modes_above(run.data_dir) == first_run.modes_before


def test_sigterm_stops_make_run_and_everything_it_started_with_exit_status_0(first_run: FirstRun) -> None:
    run = first_run.run

    os.kill(run.script_pid(), signal.SIGTERM)

    assert run.wait() == 0, run.output()
    output = run.output()
    assert output.index("stopping the local InfluxDB") < output.index("stopping the local PostgreSQL")
    assert _processes_of(run.data_dir) == {}
    assert not any(_listening(port) for port in run.ports.values())
    assert not (run.data_dir / "influxdb/influxd.pid").exists()


def test_a_second_start_uses_the_listener_token_of_the_first_and_leaves_one_active(
    runs: Runs, first_run: FirstRun
) -> None:
    first_run.run.end()

    run = runs.start(first_run.run.data_dir, first_run.run.ports)
    run.wait_until_ready()

    api = first_run.run.url("QAHUB_QA_API_PORT")
    admin = httpx.post(f"{api}/api/v2/auth/login", json=ADMIN, trust_env=False).json()["access_token"]
    listed = httpx.get(
        f"{api}/api/v2/tokens",
        params={"everyone": "true", "limit": 200},
        headers={"Authorization": f"Bearer {admin}"},
        trust_env=False,
    )
    listener_tokens = [token for token in listed.json()["items"] if token["name"] == "webhook-listener"]
    assert [token["active"] for token in listener_tokens] == [True], json.dumps(listed.json(), indent=2)
    assert "using the commits:write token of an earlier start" in run.output()
    run.end()


def test_ctrl_c_during_start_up_stops_what_was_started_and_exits_0(runs: Runs) -> None:
    data_dir, ports = runs.data_dir("interrupted")
    run = runs.start(data_dir, ports)
    deadline = time.monotonic() + START_TIMEOUT_S
    # the local PostgreSQL and InfluxDB are up, the migrations are starting
    while "[qahub] applying migrations" not in run.output():
        assert run.process.poll() is None, run.output()
        assert time.monotonic() < deadline, run.output()
        time.sleep(0.05)

    os.killpg(run.process.pid, signal.SIGINT)

    assert run.wait() == 0, run.output()
    output = run.output()
    assert output.index("stopping the local InfluxDB") < output.index("stopping the local PostgreSQL")
    assert "qa_api on" not in output
    assert _processes_of(data_dir) == {}
    assert not any(_listening(port) for port in ports.values())
    assert not (data_dir / "influxdb/influxd.pid").exists()
