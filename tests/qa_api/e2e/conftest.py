"""End to end: the real `qa` CLI (`qaboard==1.1.1` from PyPI, in its own virtualenv) against qa_api
running as its own process on a fresh, migrated database.

The virtualenv is cached in `<repo>/.cache/qaboard-venv-1.1.1`: the first run builds it (network), later
runs reuse it. It is built next to its final place and renamed into it, so an interrupted build never
leaves a half-installed cache behind.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import httpx
import pytest

from tests.qa_api.e2e.qa_api_process import LiveQaApi, running_qa_api
from tests.qa_api.e2e.sample_project import ProjectFactory, SampleProject
from tests.servers import ROOT, fresh_database, migrate

QABOARD_VERSION = "1.1.1"
VENV_BUILD_TIMEOUT_S = 900


@pytest.fixture(scope="session")
def qaboard_venv() -> Path:
    """A virtualenv with `qaboard==1.1.1`, built once and cached under `.cache/`."""
    venv = ROOT / ".cache" / f"qaboard-venv-{QABOARD_VERSION}"
    venv.parent.mkdir(parents=True, exist_ok=True)
    # one builder at a time, should two test sessions start together
    with (venv.parent / f"{venv.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _has_qaboard(venv):
            for leftover in (venv, *venv.parent.glob(f".{venv.name}-*")):  # broken, or an interrupted build
                shutil.rmtree(leftover, ignore_errors=True)
            building = Path(tempfile.mkdtemp(prefix=f".{venv.name}-", dir=venv.parent))
            try:
                _build_venv(building, final=venv)
                building.rename(venv)
            finally:
                shutil.rmtree(building, ignore_errors=True)
    assert _has_qaboard(venv), f"{venv} was built but does not provide qaboard {QABOARD_VERSION}"
    return venv


def _build_venv(path: Path, *, final: Path) -> None:
    def run(*argv: str | Path) -> None:
        result = subprocess.run(
            [str(arg) for arg in argv],
            capture_output=True,
            text=True,
            check=False,
            timeout=VENV_BUILD_TIMEOUT_S,
        )
        assert result.returncode == 0, f"{argv} failed:\n{result.stdout}{result.stderr}"

    requirement = f"qaboard=={QABOARD_VERSION}"
    uv = shutil.which("uv")
    if uv:
        # relocatable: the entry points (`bin/qa`) find their interpreter relative to themselves,
        # so the venv keeps working once renamed into place
        run(uv, "venv", "--quiet", "--relocatable", "--python", sys.executable, path)
        run(uv, "pip", "install", "--quiet", "--python", path / "bin" / "python", requirement)
        return
    run(sys.executable, "-m", "venv", path)
    run(path / "bin" / "python", "-m", "pip", "install", "--quiet", requirement)
    _point_scripts_at(path, final)


def _point_scripts_at(built: Path, final: Path) -> None:
    """pip's scripts (and activate) name the venv by its absolute path: make it the final one."""
    for script in (built / "bin").iterdir():
        if script.is_symlink() or not script.is_file():
            continue
        content = script.read_bytes()
        if str(built).encode() in content:
            script.write_bytes(content.replace(str(built).encode(), str(final).encode()))


def _has_qaboard(venv: Path) -> bool:
    python, qa = venv / "bin" / "python", venv / "bin" / "qa"
    if not (python.exists() and qa.exists()):
        return False
    check = "from importlib.metadata import version; print(version('qaboard'))"
    result = subprocess.run(
        [str(python), "-c", check], capture_output=True, text=True, check=False, timeout=60
    )
    return result.returncode == 0 and result.stdout.strip() == QABOARD_VERSION


@pytest.fixture(scope="session")
def qa_api_server(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveQaApi]:
    """`python -m qa_api` on a fresh database with the migrations applied, for the whole session."""
    with fresh_database(postgres_url, prefix="qahub_e2e") as database_url:
        migrate(database_url)
        with running_qa_api(database_url, tmp_path_factory.mktemp("qa_api")) as server:
            yield server


@pytest.fixture(scope="session")
def api(qa_api_server: LiveQaApi) -> Iterator[httpx.Client]:
    """A client of the live qa_api, for the assertions."""
    with httpx.Client(base_url=qa_api_server.url, timeout=10, trust_env=False) as client:
        yield client


class Qahub:
    """The `qahub` command of the workspace, talking to the live qa_api, with its own config folder."""

    def __init__(self, server: LiveQaApi, config_dir: Path) -> None:
        self._env = {
            **{key: value for key, value in os.environ.items() if not key.startswith("QAHUB_")},
            "QAHUB_API_URL": server.url,
            "QAHUB_CONFIG_DIR": str(config_dir),
        }

    @property
    def env(self) -> dict[str, str]:
        """The environment it runs in (for a test that starts the process itself)."""
        return dict(self._env)

    def __call__(self, *args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(Path(sys.executable).parent / "qahub"), *args],
            env={**self._env, **(env or {})},
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )


@pytest.fixture(scope="session")
def qahub(qa_api_server: LiveQaApi, tmp_path_factory: pytest.TempPathFactory) -> Qahub:
    """`qahub`, logged in as the admin (`qahub login` stores the session in its config folder)."""
    command = Qahub(qa_api_server, tmp_path_factory.mktemp("qahub-config"))
    login = command(
        "login", "--username", qa_api_server.admin_username, "--password", qa_api_server.admin_password
    )
    assert login.returncode == 0, login.stderr
    return command


def create_token(qahub: Qahub, *args: str) -> str:
    """`qahub token create ARGS`: the token, which must be all it prints on stdout."""
    created = qahub("token", "create", *args)
    assert created.returncode == 0, created.stderr
    lines = created.stdout.splitlines()
    assert len(lines) == 1, f"expected only the token on stdout, got {created.stdout!r}"
    return lines[0]


@pytest.fixture(scope="session")
def ci_token(qahub: Qahub) -> str:
    """What a project admin gives the CI of the `acme` group: runs:write on `acme/*`, for a day."""
    return create_token(
        qahub, "--name", "ci", "--scope", "runs:write", "--project", "acme/*", "--expires", "1d"
    )


@pytest.fixture(scope="session")
def make_project(
    qaboard_venv: Path, qa_api_server: LiveQaApi, ci_token: str, tmp_path_factory: pytest.TempPathFactory
) -> ProjectFactory:
    """Create a sample project (its own project id, so scenarios do not see each other's commits),
    whose CI job exports the `acme/*` CI token as QA_TOKEN unless told otherwise."""

    def make(
        name: str,
        *,
        inputs: Mapping[str, str],
        batches: Mapping[str, Sequence[str]],
        token: str | None = ci_token,
    ) -> SampleProject:
        root = tmp_path_factory.mktemp(name.replace("/", "-"))
        return SampleProject.create(
            root,
            name=name,
            inputs=inputs,
            batches=batches,
            venv=qaboard_venv,
            server=qa_api_server,
            token=token,
        )

    return make
