"""Storing a validated TF-A payload: its points as line protocol, to its kind's database."""

from __future__ import annotations

from collections.abc import Mapping

from metrics_broker.influx.line_protocol import encode
from metrics_broker.influx.writer import PointWriter
from metrics_broker.tfa.validation import Accepted


async def store(writer: PointWriter, *, databases: Mapping[str, str], accepted: Accepted) -> None:
    """Return once the points are stored; raises `PointsRejected` (422) or `InfluxUnavailable` (503)."""
    lines = [encode(point) for point in accepted.points]
    await writer.write(databases[accepted.kind.family], lines)
