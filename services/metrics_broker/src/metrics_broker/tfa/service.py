"""Storing a validated TF-A payload: its points as line protocol, to its kind's database."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.concurrency import run_in_threadpool

from metrics_broker.influx.line_protocol import encode
from metrics_broker.influx.writer import PointWriter, Stored
from metrics_broker.tfa.validation import Accepted

# encoding this many points takes a few milliseconds: done in a worker thread, off the event loop
OFFLOAD_POINTS = 500


async def store(writer: PointWriter, *, databases: Mapping[str, str], accepted: Accepted) -> Stored:
    """Return once the points are stored (in InfluxDB, or in the spool until InfluxDB takes them);
    raises `PointsRejected` (422) or `ServiceUnavailable` (503: nowhere to store them)."""
    if len(accepted.points) > OFFLOAD_POINTS:
        lines = await run_in_threadpool(_encode_all, accepted)
    else:
        lines = _encode_all(accepted)
    return await writer.write(databases[accepted.kind.family], lines)


def _encode_all(accepted: Accepted) -> list[str]:
    return [encode(point) for point in accepted.points]
