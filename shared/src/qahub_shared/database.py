"""PostgreSQL URLs as every QA Hub service connects with them (SQLAlchemy's asyncpg dialect).

Operators write libpq's `?sslmode=` in `QAHUB_DATABASE_URL`; asyncpg takes it only as its `ssl` argument
and refuses it as a keyword. `engine_target(url)` gives what `create_async_engine` needs, for the
services and for their migrations alike.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any

from sqlalchemy import URL, make_url


def _on_this_machine(host: str | None) -> bool:
    if host is None:
        return False
    if host.startswith("/") or host == "localhost":  # a unix socket's directory, or loopback by name
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def tls_of(url: str) -> tuple[URL, str | None]:
    """The URL without its TLS parameter, and the `sslmode` asyncpg connects with (None: its default).

    `sslmode` (libpq's name) or `ssl` in the URL wins: `disable`, `allow`, `prefer`, `require`,
    `verify-ca` or `verify-full`. Without either (and without `PGSSLMODE`), a server on this machine
    (`localhost`, a loopback address, a unix socket) is reached with `allow`: no TLS unless the server
    refuses a connection without it. On loopback TLS protects nothing, and where the server offers it,
    it costs both processes CPU on every statement. Any other host keeps asyncpg's default, `prefer`
    (TLS when the server offers it).
    """
    parsed = make_url(url)
    explicit = parsed.query.get("sslmode") or parsed.query.get("ssl")
    parsed = parsed.difference_update_query(["sslmode", "ssl"])
    if explicit is not None:
        mode = explicit if isinstance(explicit, str) else explicit[-1]
        return parsed, mode
    host = parsed.host or parsed.query.get("host")
    if "PGSSLMODE" not in os.environ and _on_this_machine(host if isinstance(host, str) else None):
        return parsed, "allow"
    return parsed, None


def engine_target(url: str) -> tuple[URL, dict[str, Any]]:
    """`create_async_engine(target, connect_args=args)` for this URL: the URL without its TLS parameter,
    and the connect arguments carrying the mode `tls_of` chose (add your own to them)."""
    target, sslmode = tls_of(url)
    return target, ({} if sslmode is None else {"ssl": sslmode})
