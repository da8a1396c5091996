"""Where `qahub login` keeps its token: one per server, in a file only its owner can read.

`$QAHUB_CONFIG_DIR/credentials.json` (the variable from the environment, else from the checkout's
`.env`), by default `$XDG_CONFIG_HOME/qahub/` (`~/.config/qahub/`). A token is only ever sent to the
server it came from.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from qahub_cli.environment import variable


def config_dir() -> Path:
    if explicit := variable("QAHUB_CONFIG_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "qahub"


def _path() -> Path:
    return config_dir() / "credentials.json"


def _load() -> dict[str, Any]:
    try:
        content = json.loads(_path().read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return content if isinstance(content, dict) else {}


def stored_token(api_url: str) -> str | None:
    entry = _load().get("servers", {}).get(api_url)
    token = entry.get("token") if isinstance(entry, dict) else None
    return token if isinstance(token, str) else None


def _save(content: dict[str, Any]) -> None:
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        json.dump(content, file, indent=2)
    temporary.replace(path)


def store_token(api_url: str, *, username: str, token: str, expires_at: str) -> Path:
    content = _load()
    servers = content.setdefault("servers", {})
    servers[api_url] = {"username": username, "token": token, "expires_at": expires_at}
    _save(content)
    return _path()


def forget_token(api_url: str) -> None:
    content = _load()
    if content.get("servers", {}).pop(api_url, None) is not None:
        _save(content)
