"""Group commit: what concurrent requests write to one database goes to InfluxDB in one `/write`.

A request hands its lines to `GroupCommitWriter.write(database, lines)` and waits. Per database, one
write is in flight at a time: lines that arrive while it is gather into the next group, which goes out
as soon as InfluxDB has answered the one before (or at once when it reaches `max_points`, up to
`MAX_IN_FLIGHT` writes). So the busier the database, the larger its writes, and no payload waits for a
timer: an idle database's first payload is sent at once, unless `linger_seconds` asks it to wait that
long for others to join. Every waiting request is answered when InfluxDB has acknowledged (or refused)
the write that carried its lines, never before. Writes go over aioinflux's pooled keep-alive connections.

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
import functools
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from metrics_broker.influx.client import (
    DatabaseMissing,
    InfluxDB,
    InfluxError,
    InfluxUnavailable,
    PointsRejected,
)
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
    waited: bool = False
    """It gathered behind a write in flight, or lingered: it goes out as soon as it may."""


@dataclass(slots=True)
class _Database:
    groups: deque[_Group] = field(default_factory=deque)
    """Waiting to be sent, oldest first."""
    in_flight: int = 0
    linger: asyncio.TimerHandle | None = None


MAX_IN_FLIGHT = 4
"""Writes in flight per database at most: more than one only while groups keep filling up."""


class GroupCommitWriter:
    """Writes lines to InfluxDB in groups; see the module docstring."""

    def __init__(
        self, influx: InfluxDB, databases: Databases, *, linger_seconds: float, max_points: int
    ) -> None:
        self._influx = influx
        self._databases = databases
        self._linger = linger_seconds
        self._max_points = max_points
        self._states: dict[str, _Database] = {}
        self._commits: set[asyncio.Task[None]] = set()
        self._closing = False

    async def write(self, database: str, lines: Sequence[str]) -> Stored:
        if not lines:
            return Stored.INFLUXDB
        body = _encoded(lines)
        await self._databases.ensure(database)
        waiting = _Waiting(body=body, done=asyncio.get_running_loop().create_future())
        state = self._states.get(database)
        if state is None:
            state = self._states[database] = _Database()
        if state.groups and state.groups[-1].points < self._max_points:
            group = state.groups[-1]
        else:
            group = _Group(waited=state.in_flight > 0)
            state.groups.append(group)
        group.waiting.append(waiting)
        group.points += len(lines)
        self._pump(database, state)
        # shielded: a client hanging up must not cancel a write other clients' points share
        await asyncio.shield(waiting.done)
        return Stored.INFLUXDB

    def _pump(self, database: str, state: _Database) -> None:
        """Send what may go now: the oldest group when no write is in flight (after its linger), and
        full groups up to `MAX_IN_FLIGHT` writes; everything once closing."""
        flush = self._closing
        while state.groups and (flush or state.in_flight < MAX_IN_FLIGHT):
            head = state.groups[0]
            full = head.points >= self._max_points
            if not flush and not full:
                if state.in_flight:
                    break  # it gathers until the write in flight is answered
                if self._linger > 0 and not head.waited:
                    if state.linger is None:
                        state.linger = asyncio.get_running_loop().call_later(
                            self._linger, self._lingered, database
                        )
                    break
            state.groups.popleft()
            if state.linger is not None:
                state.linger.cancel()
                state.linger = None
            state.in_flight += 1
            task = asyncio.create_task(self._write_group(database, head.waiting), name=f"write-{database}")
            self._commits.add(task)
            task.add_done_callback(functools.partial(self._sent, database, state))
        for later in state.groups:
            later.waited = later.waited or state.in_flight > 0

    def _lingered(self, database: str) -> None:
        state = self._states.get(database)
        if state is None:
            return
        state.linger = None
        if state.groups:
            state.groups[0].waited = True
        self._pump(database, state)

    def _sent(self, database: str, state: _Database, task: asyncio.Task[None]) -> None:
        self._commits.discard(task)
        state.in_flight -= 1
        self._pump(database, state)
        if not state.groups and not state.in_flight and self._states.get(database) is state:
            del self._states[database]

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
            if isinstance(exc, InfluxUnavailable):
                self._fail_queued(database, exc)
        else:
            for each in waiting:
                _settle(each, None)

    def _fail_queued(self, database: str, error: InfluxUnavailable) -> None:
        """InfluxDB could not take a write to `database`: the groups queued behind it get the same answer
        now (their senders go to the spool, behind this group's) instead of waiting for their own write to
        time out in turn, which would hold a client for twice the write timeout and more."""
        state = self._states.get(database)
        if state is None or not state.groups:
            return
        if state.linger is not None:
            state.linger.cancel()
            state.linger = None
        while state.groups:
            for each in state.groups.popleft().waiting:
                _settle(each, error)

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
        self._closing = True  # from now on, what arrives is written at once: no linger outlives this
        for database, state in list(self._states.items()):
            self._pump(database, state)
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
