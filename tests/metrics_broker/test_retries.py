"""A point without `time` gets the moment its payload was accepted, and a retry of that payload gets the
same moment: InfluxDB then overwrites what the first attempt stored instead of holding the point twice.

The first attempt here fails after InfluxDB stored part of it: a partial write (InfluxDB keeps the good
points and refuses one whose field type conflicts with what it holds), so the sender gets a 422 and sends
the same body again, as a client does after any failure. The same holds when InfluxDB stored a write it
did not acknowledge in time (then the sender gets a 503).
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.metrics_broker.influx import InfluxReader
from tests.metrics_broker.kinds import envelope, kind_definition, register


def timeless(host: str, requests: int, measurement: str = "latency") -> dict[str, Any]:
    return {
        "measurement": measurement,
        "tags": {"host": host},
        "fields": {"p50_ms": 1.5, "requests": requests},
    }


# InfluxDB holds `requests` of `throughput` as a string (see below): it refuses this point
CONFLICT = timeless("conflict", 11, "throughput")


async def _kind_with_a_conflict(
    anonymous: httpx.AsyncClient, admin_token: str, session_reader: InfluxReader, database: str
) -> str:
    """A kind whose points may leave `time` out, and a database where the field `requests` of the
    measurement `throughput` is a string already: InfluxDB refuses integers there."""
    kind = await register(
        anonymous,
        admin_token,
        kind_definition(project="team-a/perf", database=database, time_required=False),
    )
    await session_reader.execute(f'CREATE DATABASE "{database}"')
    written = await session_reader.client.post(
        "/write", params={"db": database}, content=b'throughput,host=conflict p50_ms=1.0,requests="many"'
    )
    assert written.status_code == 204, written.text
    return kind


async def _hosts(session_reader: InfluxReader, database: str) -> list[str]:
    return sorted(point.tags["host"] for point in await session_reader.points(database, "latency"))


async def test_a_retried_tfa_payload_stores_its_points_without_time_once(
    anonymous: httpx.AsyncClient,
    broker: httpx.AsyncClient,
    admin_token: str,
    session_reader: InfluxReader,
    custom_database: str,
) -> None:
    kind = await _kind_with_a_conflict(anonymous, admin_token, session_reader, custom_database)
    body = envelope(kind, timeless("runner-1", 10), CONFLICT)

    first = await broker.post("/", json=body)
    retry = await broker.post("/", json=body)
    # once a sender has its success, the same body again is a new measurement
    again = envelope(kind, timeless("runner-2", 12))
    stored = [await broker.post("/", json=again) for _ in range(2)]

    assert [first.status_code, retry.status_code] == [422, 422], first.text
    assert "field type conflict" in first.json()["error"]["message"]
    assert [response.status_code for response in stored] == [204, 204], stored[0].text
    assert await _hosts(session_reader, custom_database) == ["runner-1", "runner-2", "runner-2"]


async def test_a_retried_batch_with_an_idempotency_key_stores_its_points_without_time_once(
    anonymous: httpx.AsyncClient,
    broker: httpx.AsyncClient,
    admin_token: str,
    session_reader: InfluxReader,
    custom_database: str,
) -> None:
    kind = await _kind_with_a_conflict(anonymous, admin_token, session_reader, custom_database)
    body = {"kind": kind, "points": [timeless("runner-1", 10), CONFLICT]}
    headers = {"Idempotency-Key": str(uuid.uuid4())}

    first = await broker.post("/api/v1/points", json=body, headers=headers)
    retry = await broker.post("/api/v1/points", json=body, headers=headers)
    # the key's moment is the first attempt's, whichever client sends the retry (not the process's memory)
    fixed = {"kind": kind, "points": [timeless("runner-1", 10)]}
    other = await broker.post("/api/v1/points", json=fixed, headers={"Idempotency-Key": str(uuid.uuid4())})

    assert [first.status_code, retry.status_code] == [422, 422], first.text
    assert first.json()["error"]["code"] == "points_rejected"
    assert other.status_code == 200, other.text
    assert await _hosts(session_reader, custom_database) == ["runner-1", "runner-1"]
