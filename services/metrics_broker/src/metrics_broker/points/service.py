"""Storing a payload once: per `Idempotency-Key` when it has one, and with the same moment for its
time-less points when it is a retry (see `retries`).

    no key ─────────────────────────────────────────────▶ write ─▶ 200 / 204
                                                            └ fails ─▶ its moment kept for the retry
    key, unknown (or expired) ─▶ claim ─▶ write ─▶ remember the answer ─▶ 200
                                            └ fails (422, 503) ─▶ release the key, keep its moment
    key, same caller, same body, answered ───────────────▶ that answer again (`Idempotent-Replayed: true`)
    key, same caller, another body ──────────────────────▶ 422 `idempotency_key_reused`
    key, same caller, its first request still running ───▶ 409, retry later

Keys are per caller (the token's user) and kept `QAHUB_IDEMPOTENCY_KEY_HOURS`. The body is compared
byte for byte (SHA-256). A claim whose request never finished (its broker died) is taken over after
`LEASE`. The moment a key's first attempt stamped time-less points with is kept with the key, so every
retry of that body stamps the same. Without PostgreSQL, a request with a key gets a 503: its retries could
not be recognized.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from starlette.concurrency import run_in_threadpool

from metrics_broker.influx.writer import PointWriter, Stored
from metrics_broker.points.repository import IdempotencyKeys
from metrics_broker.points.retries import Outcome, RetryMoments
from metrics_broker.tfa import service as tfa_service
from metrics_broker.tfa.validation import OFFLOAD_BYTES, Accepted
from qahub_shared.errors import Conflict, ErrorDetail, InvalidInput, QAHubError, ServiceUnavailable

logger = logging.getLogger(__name__)

KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
"""Printable ASCII without spaces, 1 to 255 characters (a UUID is the usual choice)."""
LEASE = timedelta(seconds=60)
PURGE_EVERY_SECONDS = 600.0


class KeyReused(QAHubError):
    status_code = 422
    code = "idempotency_key_reused"


def checked_key(key: str | None) -> str | None:
    if key is not None and not KEY.fullmatch(key):
        raise InvalidInput(
            "Idempotency-Key: must be 1 to 255 printable ASCII characters without spaces (e.g. a UUID).",
            details=[ErrorDetail(loc=["header", "Idempotency-Key"], message="malformed", type="pattern")],
        )
    return key


@dataclass(frozen=True, slots=True)
class Acceptance:
    """A payload let in: the moment its time-less points get, and how a failure is remembered."""

    sender: str
    digest: str
    """SHA-256 of the body, hex."""
    accepted_at_ns: int
    key: str | None = None
    """The `Idempotency-Key` this request holds (None: no key, or a replay)."""
    claimed_at: datetime | None = None
    """When this request claimed its key: the key is released or completed only while it is still this
    request's (one that outlived its lease may have been taken over)."""
    replay: str | None = None
    """The first answer of this key, to send again instead of writing."""

    @property
    def remembered(self) -> bool:
        """The moment is kept in this process's memory (no key, not a replay)."""
        return self.key is None and self.replay is None


class PointsService:
    """How a payload is stored once: `accept` it (its moment, its key), then `write` it; for a key,
    `complete` with the answer, or `abandon` when the payload turns out invalid."""

    def __init__(self, keys: IdempotencyKeys, *, keep_hours: float) -> None:
        self._keys = keys
        self._keep = timedelta(hours=keep_hours)
        self._moments = RetryMoments()
        self._purged_at = time.monotonic()
        self._purges: set[asyncio.Task[None]] = set()

    async def accept(self, *, sender: str, body: bytes, key: str | None = None) -> Acceptance:
        # ~1.5 ms per MiB: a large body is hashed off the event loop, as it is parsed
        digest = await _sha256(body) if len(body) > OFFLOAD_BYTES else hashlib.sha256(body).hexdigest()
        if key is None:
            return Acceptance(sender, digest, self._moments.begin(sender, digest))
        self._maybe_purge()
        held = await self._keys.claim(
            caller=sender,
            key=key,
            body_sha256=digest,
            accepted_at_ns=time.time_ns(),
            keep=self._keep,
            lease=LEASE,
        )
        if held.mine:
            return Acceptance(sender, digest, held.accepted_at_ns, key=key, claimed_at=held.claimed_at)
        if held.body_sha256 != digest:
            raise KeyReused(
                f"Idempotency-Key {key[:64]!r} was used for another body; use a new key for new points.",
                details=[ErrorDetail(loc=["header", "Idempotency-Key"], message="used for another body")],
            )
        if held.response is None:
            raise Conflict(
                f"A request with Idempotency-Key {key[:64]!r} is still being stored; retry shortly.",
                headers={"Retry-After": "1"},
            )
        return Acceptance(sender, digest, held.accepted_at_ns, replay=held.response)

    async def abandon(self, acceptance: Acceptance) -> None:
        """The payload was refused before any write (invalid): its key is free for another body."""
        if acceptance.remembered:
            self._moments.end(acceptance.sender, acceptance.digest, Outcome.REFUSED)
        elif acceptance.key is not None:
            await self._release(acceptance, keep_moment=False)

    async def write(
        self, writer: PointWriter, *, databases: Mapping[str, str], accepted: Accepted, acceptance: Acceptance
    ) -> Stored:
        """Store the points; a failure (or the sender hanging up) keeps their moment for the retry."""
        try:
            stored = await tfa_service.store(writer, databases=databases, accepted=accepted)
        except BaseException:
            if acceptance.remembered:
                self._moments.end(acceptance.sender, acceptance.digest, Outcome.FAILED)
            elif acceptance.key is not None:
                await self._release(acceptance, keep_moment=True)
            raise
        if acceptance.remembered:
            self._moments.end(acceptance.sender, acceptance.digest, Outcome.STORED)
        return stored

    async def complete(self, acceptance: Acceptance, answer: str) -> None:
        """Remember the answer of a keyed request, for its retries."""
        if acceptance.key is None or acceptance.claimed_at is None:
            return
        try:
            await self._keys.complete(
                caller=acceptance.sender,
                key=acceptance.key,
                claimed_at=acceptance.claimed_at,
                response=answer,
            )
        except ServiceUnavailable:
            # the points are stored: answer so; a retry gets 409 until the lease ends, then writes again
            # with the same moment (harmless: identical points overwrite each other)
            logger.warning("could not remember the answer for idempotency key %r", acceptance.key)

    async def _release(self, acceptance: Acceptance, *, keep_moment: bool) -> None:
        assert acceptance.key is not None
        assert acceptance.claimed_at is not None
        try:
            await self._keys.release(
                caller=acceptance.sender,
                key=acceptance.key,
                claimed_at=acceptance.claimed_at,
                keep_moment=keep_moment,
            )
        except ServiceUnavailable:
            logger.warning(
                "could not release idempotency key %r; it is taken over after %s", acceptance.key, LEASE
            )

    def _maybe_purge(self) -> None:
        now = time.monotonic()
        if now - self._purged_at < PURGE_EVERY_SECONDS:
            return
        self._purged_at = now
        task = asyncio.create_task(self._purge(), name="purge-idempotency-keys")
        self._purges.add(task)
        task.add_done_callback(self._purges.discard)

    async def _purge(self) -> None:
        try:
            forgotten = await self._keys.purge()
        except ServiceUnavailable:
            return
        if forgotten:
            logger.info("forgot %d expired idempotency keys", forgotten)


async def _sha256(body: bytes) -> str:
    return await run_in_threadpool(lambda: hashlib.sha256(body).hexdigest())
