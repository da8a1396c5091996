"""Storing a validated TF-A payload: its points as line protocol, to its kind's database."""

from __future__ import annotations

from collections.abc import Mapping

from metrics_broker.influx.line_protocol import encode
from metrics_broker.influx.writer import PointWriter, Stored
from metrics_broker.tfa.validation import Accepted


async def store(writer: PointWriter, *, databases: Mapping[str, str], accepted: Accepted) -> Stored:
    """Return once the points are stored (in InfluxDB, or in the spool until InfluxDB takes them);
    raises `PointsRejected` (422) or `ServiceUnavailable` (503: nowhere to store them)."""
    lines = [encode(point) for point in accepted.points]
    return await writer.write(databases[accepted.kind.family], lines)
