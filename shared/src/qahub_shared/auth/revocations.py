"""The ids of revoked tokens, held in memory and refreshed on a fixed interval.

Every service checks each request's token id against this set, so revocation needs no round trip per
request, and takes effect everywhere within one refresh interval (`QAHUB_REVOCATION_REFRESH_SECONDS`);
in the qa_api process that revoked the token, at once. The set holds only tokens that have not expired
yet, so it stays small.

Until the first refresh succeeds, nothing is known about revocations and every token is refused with 503
(fail closed). After that, a failed refresh keeps the last set. Failures are logged as an `Outage`: a
warning when refreshing starts failing, a reminder now and then, a line when it works again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

from qahub_shared.errors import ServiceUnavailable
from qahub_shared.logging import Outage

logger = logging.getLogger(__name__)

FetchRevoked = Callable[[], Awaitable[Iterable[str]]]


class RevocationList:
    def __init__(self, fetch: FetchRevoked, *, interval_seconds: float) -> None:
        self._fetch = fetch
        self._interval = interval_seconds
        self._revoked: frozenset[str] | None = None
        self._added: set[str] = set()
        self.refreshed_at: float | None = None
        """`time.monotonic()` of the last successful refresh."""
        self._outage = Outage(logger, "refreshing token revocations")

    def is_revoked(self, token_id: str) -> bool:
        if self._revoked is None:
            raise ServiceUnavailable(
                "Token revocations are not loaded yet; retry shortly.", headers={"Retry-After": "1"}
            )
        return token_id in self._revoked or token_id in self._added

    def add(self, token_id: str) -> None:
        """Take a revocation into account now, before the next refresh brings it."""
        self._added.add(token_id)

    async def refresh(self) -> None:
        revoked = frozenset(await self._fetch())
        # what was added locally and is now in the fetched set (or expired out of it) is no longer needed
        self._added -= revoked
        self._revoked = revoked
        self.refreshed_at = time.monotonic()

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval if self._revoked is not None else min(self._interval, 1.0))
            await self._refresh_or_keep()

    async def _refresh_or_keep(self) -> None:
        try:
            await self.refresh()
        except Exception as exc:  # keep the last known set; the next round retries
            self._outage.failed(exc)
        else:
            self._outage.succeeded()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[RevocationList]:
        """Refresh now (a failure is logged), then in a background task for as long as the context is open."""
        await self._refresh_or_keep()
        task = asyncio.create_task(self._refresh_forever(), name="token-revocations")
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
