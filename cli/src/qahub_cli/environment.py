"""The `QAHUB_` variables `qahub` reads: from the environment, else from `.env` in the current directory.

That is the file the services read when run from the same directory (the repository root with `make
run`), so a port moved there moves for `qahub` too. Without a URL, the one of a service is derived from
the address and port that service listens on; a wildcard address (`0.0.0.0`, `::`) means this machine to
a client.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from dotenv import dotenv_values

ENV_FILE = ".env"
# the addresses a server listens on to be reached on every interface: a client reaches it on loopback
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1"}  # noqa: S104  (compared, not bound)


def variable(name: str) -> str | None:
    """`name` from the environment, else from `./.env`; an empty value counts as unset."""
    return os.environ.get(name) or _env_file().get(name) or None


@functools.cache
def _env_file() -> dict[str, str]:
    path = Path(ENV_FILE)
    if not path.is_file():
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
