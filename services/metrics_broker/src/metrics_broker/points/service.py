"""Storing a batch of points once per `Idempotency-Key`.

    no key ─────────────────────────────────────────────▶ write ─▶ 200
    key, unknown (or expired) ─▶ claim ─▶ write ─▶ remember the answer ─▶ 200
                                            └ fails (422, 503) ─▶ release the key ─▶ the error
    key, same caller, same body, answered ───────────────▶ that answer again (`Idempotent-Replayed: true`)
    key, same caller, another body ──────────────────────▶ 422 `idempotency_key_reused`
    key, same caller, its first request still running ───▶ 409, retry later

Keys are per caller (the token's user) and kept `QAHUB_IDEMPOTENCY_KEY_HOURS`. The body is compared
byte for byte (SHA-256). A claim whose request never finished (its broker died) is taken over after
`LEASE`. Without PostgreSQL, a request with a key gets a 503: its retries could not be recognized.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from starlette.concurrency import run_in_threadpool

from metrics_broker.influx.writer import PointWriter
from metrics_broker.points.repository import IdempotencyKeys
from metrics_broker.points.schemas import PointsStored
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
class Answer:
    body: str
    """The JSON answer, byte for byte what the first request was answered."""
    stored_in: str
    replayed: bool


class PointsService:
    def __init__(self, keys: IdempotencyKeys, *, keep_hours: float) -> None:
        self._keys = keys
        self._keep = timedelta(hours=keep_hours)
        self._purged_at = time.monotonic()
        self._purges: set[asyncio.Task[None]] = set()

    async def store(
        self,
        writer: PointWriter,
        *,
        databases: Mapping[str, str],
        accepted: Accepted,
        caller: str,
        key: str | None,
        body: bytes,
    ) -> Answer:
        if key is None:
            return _answer(await self._write(writer, databases, accepted), replayed=False)
        self._maybe_purge()
        # ~1.5 ms per MiB: a large body is hashed off the event loop, as it was parsed
        digest = await _sha256(body) if len(body) > OFFLOAD_BYTES else hashlib.sha256(body).hexdigest()
        held = await self._keys.claim(
            caller=caller, key=key, body_sha256=digest, keep=self._keep, lease=LEASE
        )
        if held is not None:
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
            return _answer(held.response, replayed=True)
        try:
            answer = await self._write(writer, databases, accepted)
        except BaseException:
            try:
                await self._keys.release(caller=caller, key=key)
            except ServiceUnavailable:
                logger.warning("could not release idempotency key %r; it is taken over after %s", key, LEASE)
            raise
        try:
            await self._keys.complete(caller=caller, key=key, response=answer)
        except ServiceUnavailable:
            # the points are stored: answer so; a retry gets 409 until the lease ends, then writes again
            # (harmless: identical points overwrite each other)
            logger.warning("could not remember the answer for idempotency key %r", key)
        return _answer(answer, replayed=False)

    async def _write(self, writer: PointWriter, databases: Mapping[str, str], accepted: Accepted) -> str:
        stored = await tfa_service.store(writer, databases=databases, accepted=accepted)
        return PointsStored(
            kind=accepted.kind.name,
            database=tfa_service.database_of(accepted, databases),
            points=len(accepted.points),
            stored_in=stored,
        ).model_dump_json()

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


def _answer(body: str, *, replayed: bool) -> Answer:
    return Answer(body=body, stored_in=str(json.loads(body)["stored_in"]), replayed=replayed)


async def _sha256(body: bytes) -> str:
    return await run_in_threadpool(lambda: hashlib.sha256(body).hexdigest())
