"""Group commit: what concurrent requests write to one database goes to InfluxDB in one `/write`.

A request hands its lines to `GroupCommitWriter.write(database, lines)` and waits. Lines for a database
gather for `window_seconds` (a few milliseconds), or until `max_points` are waiting, then go out in one
write over the pooled keep-alive connections; every waiting request is answered when InfluxDB has
acknowledged (or refused) the write, never before.

When InfluxDB refuses part of a group (400: a field type conflict, an unparsable line), it has kept the
other lines but says nothing about whose line it dropped. Each request's lines are then written again on
their own, so each client gets its own answer. Writing a line twice is harmless: a point with the same
measurement, tags and timestamp overwrites the previous one with the same values.

Each request's lines are encoded to UTF-8 before they join a group, so a text that cannot be encoded
(validation refuses lone surrogates; this is the last line of defence) is that request's own 422, never
its neighbours' error. Should sending a group fail in a way that is not InfluxDB's answer (a bug), each
request is written again on its own, so one request's fault is not every waiting request's 500.

`PointWriter` is what the request path depends on: `spool.writer.SpoolingWriter` wraps this one and
spools to PostgreSQL what InfluxDB cannot take.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from metrics_broker.influx.client import DatabaseMissing, InfluxDB, InfluxError, PointsRejected
from metrics_broker.influx.databases import Databases
from qahub_shared.errors import ErrorDetail, InvalidInput

logger = logging.getLogger(__name__)


class Stored(StrEnum):
    """Where a payload's points are when a writer returns: either is durable."""

    INFLUXDB = "influxdb"
    SPOOL = "spool"


class PointWriter(Protocol):
    """Stores lines of line protocol in a database; returns once they are stored, and where."""

    async def write(self, database: str, lines: Sequence[str]) -> Stored: ...


@dataclass(slots=True)
class _Waiting:
    body: bytes
    done: asyncio.Future[None]


@dataclass(slots=True)
class _Group:
    waiting: list[_Waiting] = field(default_factory=list)
    points: int = 0
    timer: asyncio.TimerHandle | None = None


class GroupCommitWriter:
    """Writes lines to InfluxDB in groups; see the module docstring."""

    def __init__(
        self, influx: InfluxDB, databases: Databases, *, window_seconds: float, max_points: int
    ) -> None:
        self._influx = influx
        self._databases = databases
        self._window = window_seconds
        self._max_points = max_points
        self._groups: dict[str, _Group] = {}
        self._commits: set[asyncio.Task[None]] = set()

    async def write(self, database: str, lines: Sequence[str]) -> Stored:
        if not lines:
            return Stored.INFLUXDB
        body = _encoded(lines)
        await self._databases.ensure(database)
        loop = asyncio.get_running_loop()
        waiting = _Waiting(body=body, done=loop.create_future())
        group = self._groups.get(database)
        if group is None:
            group = self._groups[database] = _Group()
            if self._window > 0:
                group.timer = loop.call_later(self._window, self._commit, database)
        group.waiting.append(waiting)
        group.points += len(lines)
        if group.points >= self._max_points or self._window == 0:
            self._commit(database)
        # shielded: a client hanging up must not cancel a write other clients' points share
        await asyncio.shield(waiting.done)
        return Stored.INFLUXDB

    def _commit(self, database: str) -> None:
        group = self._groups.pop(database, None)
        if group is None:
            return
        if group.timer is not None:
            group.timer.cancel()
        task = asyncio.create_task(self._write_group(database, group.waiting), name=f"write-{database}")
        self._commits.add(task)
        task.add_done_callback(self._commits.discard)

    async def _write_group(self, database: str, waiting: list[_Waiting]) -> None:
        try:
            await self._send(database, b"\n".join(each.body for each in waiting))
        except PointsRejected as exc:
            if len(waiting) == 1:
                _settle(waiting[0], exc)
                return
            logger.info("a group of %d payloads was partly rejected; writing each alone", len(waiting))
            await asyncio.gather(*(self._write_alone(database, each) for each in waiting))
        except Exception as exc:  # every waiting request must get an answer, whatever happened
            if not isinstance(exc, InfluxError):
                logger.exception("unexpected error writing to %s", database)
                if len(waiting) > 1:  # whose fault it was is unknown: each request gets its own answer
                    await asyncio.gather(*(self._write_alone(database, each) for each in waiting))
                    return
            for each in waiting:
                _settle(each, exc)
        else:
            for each in waiting:
                _settle(each, None)

    async def _write_alone(self, database: str, waiting: _Waiting) -> None:
        try:
            await self._send(database, waiting.body)
        except Exception as exc:
            _settle(waiting, exc)
        else:
            _settle(waiting, None)

    async def write_now(self, database: str, lines: Sequence[str]) -> None:
        """Write these lines in one request of their own, now (the spool's drainer)."""
        body = _encoded(lines)
        await self._databases.ensure(database)
        await self._send(database, body)

    async def _send(self, database: str, body: bytes) -> None:
        try:
            await self._influx.write(database, body)
        except DatabaseMissing:
            # dropped behind our back: create it again, once
            self._databases.forget(database)
            await self._databases.ensure(database)
            await self._influx.write(database, body)

    async def close(self) -> None:
        """Write what is waiting now, and wait for the writes in flight."""
        for database in list(self._groups):
            self._commit(database)
        while self._commits:
            await asyncio.gather(*self._commits, return_exceptions=True)


def _encoded(lines: Sequence[str]) -> bytes:
    """The lines as one UTF-8 body; 422 (this request's own) when a text cannot be encoded."""
    try:
        return "\n".join(lines).encode()
    except UnicodeEncodeError as exc:
        message = f"A point of this payload cannot be encoded as UTF-8: {exc.reason} at character {exc.start}"
        raise InvalidInput(
            message + ".", details=[ErrorDetail(loc=["body"], message=message, type="unicode")]
        ) from None


def _settle(waiting: _Waiting, error: BaseException | None) -> None:
    if waiting.done.done():
        return
    if error is None:
        waiting.done.set_result(None)
    else:
        waiting.done.set_exception(error)
    # the waiter may be gone (shielded and cancelled): do not let asyncio log "exception never retrieved"
    with contextlib.suppress(BaseException):
        waiting.done.exception()
