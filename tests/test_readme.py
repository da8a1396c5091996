"""The README's commands work as written, in a fresh shell, after its set-up command.

A new user clones the repository, moves the ports in `.env` (as the README allows), runs `make run`, then
types the README's commands in a fresh login shell, where nothing QA Hub installed is on PATH and no
`QAHUB_*` variable is set. This test does the same from a copy of the tree: every `./qahub` command of
the README's `sh` blocks runs, in order, in one `env -i` shell, against that `make run`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.processes import free_port
from tests.servers import ROOT, server_folder

README = ROOT / "README.md"
START_TIMEOUT_S = 240.0
STOP_TIMEOUT_S = 60.0


def readme_commands() -> list[str]:
    """The README's shell commands that a user types once set up: those of its `sh` blocks that run the
    `qahub` CLI (the set-up commands themselves, `make run` and `make test`, are what this test runs)."""
    blocks = re.findall(r"^[ \t]*```sh\n(.*?)^[ \t]*```", README.read_text(), flags=re.M | re.S)
    commands = []
    for block in blocks:
        for line in block.splitlines():
            command = line.split("  #", 1)[0].strip()
            if "./qahub" in command:
                commands.append(command)
    return commands


# The machine's own network settings (proxies, the CA bundle TLS clients trust, pip's): not QA Hub's, and
# what a login shell of that machine has, so they pass (uv needs them to reach PyPI here).
_MACHINE_NETWORK = re.compile(r"(.*_proxy|.*_PROXY|SSL_CERT_.*|.*_CA_BUNDLE|.*_CA_CERTS|PIP_.*)")


def fresh_shell_env(home: Path, config: Path) -> dict[str, str]:
    """What a fresh login shell has: no `QAHUB_*`, a PATH without ~/.local/bin (where `make` puts uv)."""
    return {
        **{name: value for name, value in os.environ.items() if _MACHINE_NETWORK.fullmatch(name)},
        "HOME": str(home),
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "USER": os.environ.get("USER", "root"),
        # qahub stores its login under ~/.config/qahub: keep it in this test's folder
        "XDG_CONFIG_HOME": str(config),
    }


def copy_of_the_tree(target: Path) -> Path:
    """The repository's files as a fresh clone has them (tracked and new, not ignored), with this
    working tree's changes."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@contextlib.contextmanager
def make_run(tree: Path, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            ["make", "run"], cwd=tree, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            # Ctrl-C, as a terminal sends it: to the whole foreground process group
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wait_ready(process: subprocess.Popen[bytes], urls: list[str], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    waiting = list(urls)
    while waiting and time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"make run exited with {process.returncode}:\n{log.read_text()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{waiting[0]}/readyz", timeout=1, trust_env=False).status_code == 200:
                waiting.pop(0)
                continue
        time.sleep(0.2)
    if waiting:
        pytest.fail(f"{waiting[0]} not ready after {START_TIMEOUT_S:.0f} s:\n{log.read_text()}")


def test_readme_shows_its_commands_as_they_run_in_a_fresh_shell() -> None:
    commands = readme_commands()
    assert any(command.startswith("./qahub login") for command in commands), commands
    assert "uv run qahub" not in README.read_text(), "uv is not on a fresh shell's PATH: use ./qahub"


@pytest.fixture
def tree() -> Iterator[Path]:
    """A copy of the tree where the servers' users reach its data dir (pytest's own folders are closed
    to them: as root, their files would go to /var/lib/qahub, out of reach of this clean-up)."""
    folder = server_folder("qahub-readme-")
    try:
        yield copy_of_the_tree(folder / "qahub")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_readme_commands_work_in_a_fresh_shell_with_ports_moved_in_dotenv(tree: Path, tmp_path: Path) -> None:
    home = Path.home()  # uv lives in ~/.local/bin, where `make` installed it
    ports = {name: free_port() for name in ("QA_API", "METRICS_BROKER", "WEBHOOK", "PG", "INFLUX")}
    (tree / ".env").write_text("".join(f"QAHUB_{name}_PORT={port}\n" for name, port in ports.items()))
    env = fresh_shell_env(home, tmp_path / "config")
    log = tmp_path / "make-run.log"

    with make_run(tree, env, log) as process:
        wait_ready(
            process,
            [f"http://127.0.0.1:{ports[name]}" for name in ("QA_API", "METRICS_BROKER", "WEBHOOK")],
            log,
        )
        script = "\n".join(
            ["set -euo pipefail", *readme_commands(), "./qahub whoami", 'printf "QA_TOKEN=%s\\n" "$QA_TOKEN"']
        )
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-c", script],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"{script}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        token = done.stdout.rsplit("QA_TOKEN=", 1)[1].strip()
        assert token.count(".") == 2, done.stdout  # a JWT
        whoami = httpx.get(
            f"http://127.0.0.1:{ports['QA_API']}/api/v2/auth/whoami",
            headers={"Authorization": f"Bearer {token}"},
            trust_env=False,
        )
        assert whoami.status_code == 200, whoami.text
        assert "runs:write" in whoami.json()["scopes"]
    # Ctrl-C reaches make too, which then ends by that signal whatever its recipe did; what the user sees
    # is whether make reports the recipe failing ("make: *** ... Error 130")
    assert process.returncode in (0, -signal.SIGINT), log.read_text()
    assert not re.search(r"make: \*\*\* .*Error", log.read_text()), log.read_text()
