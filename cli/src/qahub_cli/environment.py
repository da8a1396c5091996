"""The `QAHUB_` variables `qahub` reads: from the environment, else from the `.env` of the QA Hub
checkout it runs from (`./qahub`, or `uv run qahub` in the workspace).

That is the file `make run` and the services it starts read, so a port moved there moves for `qahub` too.
A `.env` of the current directory is never read: `qahub gate` runs in CI inside the checkout of the
project under test, whose files must not choose where tokens are sent. An installed `qahub` (`pip
install ./cli`) reads no `.env` at all. Without a URL, the one of a service is derived from the address
and port that service listens on; a wildcard address (`0.0.0.0`, `::`) means this machine to a client.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from dotenv import dotenv_values

# the addresses a server listens on to be reached on every interface: a client reaches it on loopback
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1"}  # noqa: S104  (compared, not bound)


def variable(name: str) -> str | None:
    """`name` from the environment, else from the checkout's `.env`; an empty value counts as unset."""
    return os.environ.get(name) or _env_file().get(name) or None


def checkout_env_file() -> Path | None:
    """The `.env` at the root of the QA Hub checkout this code runs from (the workspace installs `cli/`
    in place); None for an installed package."""
    root = Path(__file__).resolve().parents[3]
    if (root / "cli" / "pyproject.toml").is_file() and (root / "deploy" / "local" / "run.sh").is_file():
        return root / ".env"
    return None


@functools.cache
def _env_file() -> dict[str, str]:
    path = checkout_env_file()
    if path is None or not path.is_file():
        return {}
    return {name: value for name, value in dotenv_values(path).items() if value}


def service_url(*, url: str, host: str, port: str, default_port: int) -> str:
    """The variable `url` when set; else `http://` + the variables `host` (default 127.0.0.1) and `port`
    (default `default_port`), as a client on this machine reaches that address."""
    if explicit := variable(url):
        return explicit
    return f"http://{client_host(variable(host) or '127.0.0.1')}:{variable(port) or default_port}"


def client_host(listen_host: str) -> str:
    """The host of a URL that reaches a server listening on `listen_host`."""
    host = _WILDCARDS.get(listen_host, listen_host).strip("[]")
    return f"[{host}]" if ":" in host else host


def qaboard_url() -> str | None:
    """The server the `qa` CLI (qaboard 1.1.1, `qaboard/api.py`) talks to, from the same variables in the
    same order: `$QABOARD_HOSTNAME` with `$QABOARD_PORT`, else `$QABOARD_HOST` (`host` or `host:port`),
    each behind `$QABOARD_PROTOCOL` (default http); else `$QABOARD_URL`. None when none is set (the qa
    CLI then falls back to http://localhost:5151, with a warning). Read from the environment only, as
    the qa CLI reads them (it also reads site packages and secrets files, which `qahub` does not)."""
    protocol = os.environ.get("QABOARD_PROTOCOL") or "http"
    hostname, port = os.environ.get("QABOARD_HOSTNAME"), os.environ.get("QABOARD_PORT")
    if hostname and port:
        return f"{protocol}://{hostname}:{port}"
    if host := os.environ.get("QABOARD_HOST"):
        return f"{protocol}://{host}"
    return os.environ.get("QABOARD_URL") or None


# where CI services say which commit they build, in the order the qa CLI reads them (qaboard/config.py)
COMMIT_VARIABLES = ("CI_COMMIT_SHA", "GIT_COMMIT", "CIRCLE_SHA1", "TRAVIS_COMMIT", "GITHUB_SHA")
# which repository: GitLab's path_with_namespace, GitHub's owner/repo
PROJECT_VARIABLES = ("CI_PROJECT_PATH", "GITHUB_REPOSITORY")


def first_of(names: tuple[str, ...]) -> str | None:
    """The first of the environment variables `names` that is set and not empty."""
    return next((value for name in names if (value := os.environ.get(name))), None)
