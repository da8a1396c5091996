"""Services run as operators run them (`python -m <service>`), for the tests and benchmarks that need a
real process: a free loopback port, an environment of our settings only, readiness, a graceful stop."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def service_env(**settings: str) -> dict[str, str]:
    """This process's environment without any QAHUB_* variable (a developer's must not change what is
    under test), plus `settings`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("QAHUB_")}
    env.update(settings)
    return env


def start(module: str, *, env: dict[str, str], workdir: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """`python -m module` in `workdir` (away from any `.env` the settings would read), its output
    appended to `log_path`."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", module], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
        )


def wait_until_ready(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    """Until `url/readyz` answers 200; raises with the process's log if it exits or takes too long."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}:\n{log_path.read_text()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/readyz", timeout=1, trust_env=False).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{process.args!r} not ready after {READY_TIMEOUT_S:.0f} s:\n{log_path.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as operators stop it; SIGKILL if it does not exit in time."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def running(
    module: str, *, env: dict[str, str], workdir: Path, url: str, log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """`start`, `wait_until_ready`, and `stop` on exit."""
    process = start(module, env=env, workdir=workdir, log_path=log_path)
    try:
        wait_until_ready(process, url, log_path)
        yield process
    finally:
        stop(process)
