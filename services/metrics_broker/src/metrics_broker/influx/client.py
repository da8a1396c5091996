"""InfluxDB 1.x over HTTP, through aioinflux: ping, create a database, write line protocol.

    InfluxError
    ├── InfluxUnavailable   down, unreachable, too slow (the write timeout), 5xx,     → spool / 503
    │                       or refusing us (401, 403, 429): nothing the sender can fix
    │   ├── DatabaseMissing 404 "database not found": created again, then retried
    │   └── NotAdmin        CREATE DATABASE refused: the broker's InfluxDB user is no admin
    └── PointsRejected      other 4xx: a line it cannot parse, a field type conflict, → 422 to the sender
                            a body too large (413)

aioinflux is created inside the running loop (its aiohttp session binds to the loop) and closed on
shutdown. We hand it finished line protocol (`line_protocol.encode`), never dicts: its own serializer
neither escapes nor types fields the way TF-A's broker did. Timestamps are nanoseconds, InfluxDB's default
precision, so aioinflux's missing `precision=` is not needed.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from urllib.parse import urlsplit

import aiohttp

from qahub_shared.errors import QAHubError, ServiceUnavailable

with warnings.catch_warnings():
    # aioinflux warns at import that pandas and redis, optional extras we do not use, are missing
    warnings.simplefilter("ignore")
    from aioinflux import InfluxDBClient
    from aioinflux.client import InfluxDBError, InfluxDBWriteError

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = "5"
# 4xx answers about us (credentials, throttling, a missing endpoint), not about the points sent
_NOT_THE_SENDERS_FAULT = frozenset({401, 403, 404, 429})


class InfluxError(Exception):
    """Base of what talking to InfluxDB can raise."""


class InfluxUnavailable(InfluxError, ServiceUnavailable):
    """InfluxDB did not acknowledge in time, or failed on its side: the points are not known to be stored
    (after a timeout InfluxDB may still store them)."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"InfluxDB is unavailable ({reason}): "
            "the points are not known to be stored (InfluxDB may still store what it did not acknowledge "
            "in time). Retry shortly with the same body: points without `time` get the same moment again.",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
        self.reason = reason


class DatabaseMissing(InfluxUnavailable):
    """The database is gone (dropped since we created it). The writer creates it again and retries once;
    should that fail too, it is one more way of InfluxDB being unavailable."""


class NotAdmin(InfluxUnavailable):
    """InfluxDB (with authentication on) refused `CREATE DATABASE`: the broker's user may write, but
    databases are created by an administrator."""


class PointsRejected(InfluxError, QAHubError):
    """InfluxDB refused some lines; the others of the same write are stored (a partial write)."""

    status_code = 422
    code = "points_rejected"

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"InfluxDB rejected points of this payload: {reason}. Points it did not reject are stored. "
            "Sent again unchanged, they overwrite themselves (points without `time` get the same moment "
            "again); a changed payload stamps its points without `time` anew, so send only the fixed "
            "points then."
        )
        self.reason = reason


class InfluxDB:
    """One InfluxDB server. Build it inside the running event loop; `close()` it on shutdown."""

    def __init__(
        self,
        url: str,
        *,
        timeout_seconds: float,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        parts = urlsplit(url)
        ssl = parts.scheme == "https"
        path = parts.path.rstrip("/") + "/"
        with warnings.catch_warnings():
            # it warns when no default database is set; every call here names its database
            warnings.simplefilter("ignore")
            self._client = InfluxDBClient(
                host=parts.hostname or "127.0.0.1",
                port=parts.port or (443 if ssl else 8086),
                path=path,
                ssl=ssl,
                # as a header: aiohttp deprecated its `auth=`, which aioinflux builds from a username
                headers=_basic_authorization(username, password),
                timeout=aiohttp.ClientTimeout(total=timeout_seconds),
                loop=asyncio.get_running_loop(),
            )
        self.url = url

    async def ping(self) -> None:
        """Raise `InfluxUnavailable` unless an InfluxDB answers at the URL."""
        try:
            headers = await self._client.ping()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise InfluxUnavailable(_describe(exc)) from exc
        if not any(name.lower() == "x-influxdb-version" for name in headers):
            raise InfluxUnavailable(f"{self.url} does not answer like an InfluxDB")

    async def create_database(self, name: str) -> None:
        """`CREATE DATABASE` (a no-op when it exists). `name` is checked by the settings: it needs no
        escaping beyond the double quotes."""
        try:
            await self._client.query(f'CREATE DATABASE "{name}"', db=name)
        except InfluxDBError as exc:
            if "not authorized" in str(exc):
                raise NotAdmin(f"CREATE DATABASE {name} refused: {exc}") from exc
            raise InfluxUnavailable(f"CREATE DATABASE {name} failed: {exc}") from exc
        except ValueError as exc:  # not JSON: not InfluxDB's own answer (a proxy's error page)
            raise InfluxUnavailable(f"CREATE DATABASE {name}: not an InfluxDB answer ({exc})") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise InfluxUnavailable(_describe(exc)) from exc

    async def write(self, database: str, body: str | bytes) -> None:
        """Write lines of line protocol; return once InfluxDB acknowledged them (204)."""
        try:
            await self._client.write(body, db=database)
        except InfluxDBWriteError as exc:
            reason = str(exc.headers.get("X-Influxdb-Error", "")) or str(exc.reason)
            if exc.status == 404 and "database not found" in reason:
                raise DatabaseMissing(reason) from exc
            if 400 <= exc.status < 500 and exc.status not in _NOT_THE_SENDERS_FAULT:
                # retrying cannot help: spooling it would only block the spool behind it
                raise PointsRejected(reason) from exc
            raise InfluxUnavailable(f"HTTP {exc.status}: {reason}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise InfluxUnavailable(_describe(exc)) from exc

    async def close(self) -> None:
        await self._client.close()


def _basic_authorization(username: str | None, password: str | None) -> dict[str, str]:
    if not username:
        return {}
    return {"Authorization": aiohttp.BasicAuth(username, password or "").encode()}


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer within the write timeout"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
