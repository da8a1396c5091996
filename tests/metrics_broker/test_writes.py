"""How payloads reach InfluxDB: acknowledged only once stored, written together when they arrive
together, a rejection reported to the client whose point it was, InfluxDB down → 503, nothing claimed."""

from __future__ import annotations

import asyncio
import copy
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from metrics_broker.config import Settings
from metrics_broker.influx.client import InfluxDB
from metrics_broker.influx.databases import Databases
from metrics_broker.influx.writer import GroupCommitWriter, Stored
from metrics_broker.main import create_app
from metrics_broker.tfa.validation import OFFLOAD_BYTES
from qahub_shared.errors import InvalidInput
from tests.metrics_broker.conftest import BASE_URL, tfa_fixture
from tests.metrics_broker.influx import InfluxReader


def churn(target: str, lines: Any = 1) -> dict[str, Any]:
    body = tfa_fixture("code_churn.json")
    body["data"][0]["tags"]["Target_Tag"] = target
    body["data"][0]["fields"]["Lines_of_Change"] = lines
    return body


async def test_concurrent_payloads_are_written_together_and_all_acknowledged_once_stored(
    broker: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str]
) -> None:
    await broker.post("/", json=churn("warm-up"))  # creates the database, so the burst is not serialized
    before = await reader.write_requests()

    answers = await asyncio.gather(*(broker.post("/", json=churn(f"v{n}", n)) for n in range(40)))

    assert [answer.status_code for answer in answers] == [204] * 40
    points = await reader.points(databases["tfa_code_churn"], "TFA_CodeChurn_Tracking")
    assert {point.tags["Target_Tag"]: point.fields["Lines_of_Change"] for point in points} == {
        "warm-up": 1,
        **{f"v{n}": n for n in range(40)},
    }
    # InfluxDB's own count of the /write requests it received
    assert await reader.write_requests() - before < 40


async def test_a_point_influxdb_rejects_is_reported_to_its_sender_and_the_others_are_stored(
    broker: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str]
) -> None:
    first = await broker.post("/", json=churn("first", 1))  # Lines_of_Change is now an integer field
    assert first.status_code == 204
    conflicting = churn("conflict", 1.5)  # a float into that integer field: InfluxDB refuses the line

    answers = await asyncio.gather(
        *(broker.post("/", json=churn(f"ok{n}", n)) for n in range(10)),
        broker.post("/", json=conflicting),
        *(broker.post("/", json=churn(f"ok{n}", n)) for n in range(10, 20)),
    )

    statuses = [answer.status_code for answer in answers]
    assert statuses == [204] * 10 + [422] + [204] * 10
    error = answers[10].json()["error"]
    assert error["code"] == "points_rejected"
    assert "field type conflict" in error["message"]
    assert "Sent again unchanged, they overwrite themselves" in error["message"]
    points = await reader.points(databases["tfa_code_churn"], "TFA_CodeChurn_Tracking")
    assert {point.tags["Target_Tag"] for point in points} == {"first", *(f"ok{n}" for n in range(20))}


async def test_a_dropped_database_is_created_again(
    broker: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str]
) -> None:
    assert (await broker.post("/", json=churn("before"))).status_code == 204
    await reader.execute(f'DROP DATABASE "{databases["tfa_code_churn"]}"')

    response = await broker.post("/", json=churn("after"))

    assert response.status_code == 204, response.text
    [point] = await reader.points(databases["tfa_code_churn"], "TFA_CodeChurn_Tracking")
    assert point.tags["Target_Tag"] == "after"


def changed(settings: Settings, **changes: Any) -> Settings:
    """The same settings with some changed, validated again (URLs normalized)."""
    return Settings(**{**settings.model_dump(), **changes})


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
async def broker_with_nowhere_to_write(
    settings: Settings, metrics_token: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The broker with InfluxDB and the spool's PostgreSQL both on ports where nothing listens."""
    down = changed(
        settings,
        **{
            "influx_url": f"http://127.0.0.1:{_closed_port()}",
            "database_url": f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/qahub",
            "spool_timeout_seconds": 1.0,
        },
    )
    async with LifespanManager(create_app(down)) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        headers = {"Authorization": f"JWT {metrics_token}"}
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers) as client:
            yield client


async def test_with_influxdb_and_the_spool_both_down_payloads_get_503_with_retry_after(
    broker_with_nowhere_to_write: httpx.AsyncClient,
) -> None:
    response = await broker_with_nowhere_to_write.post("/", json=tfa_fixture("code_churn.json"))

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    error = response.json()["error"]
    assert error["code"] == "service_unavailable"
    assert error["message"].startswith(
        "InfluxDB and the spool are both unavailable: the points are not known"
    )
    assert "nothing was stored" not in error["message"]  # InfluxDB may store what timed out


async def test_readiness_follows_influxdb(
    broker: httpx.AsyncClient, broker_with_nowhere_to_write: httpx.AsyncClient
) -> None:
    assert (await broker.get("/healthz")).status_code == 200
    assert (await broker.get("/readyz")).json() == {"status": "ok"}
    assert (await broker_with_nowhere_to_write.get("/healthz")).status_code == 200
    down = await broker_with_nowhere_to_write.get("/readyz")
    assert down.status_code == 503
    assert down.json()["error"]["message"] == "storage (InfluxDB or the spool) is unreachable"


async def test_a_frozen_influxdb_still_answers_every_client_within_the_write_timeout_from_the_spool(
    settings: Settings, metrics_token: str, admin_token: str, spool_database_url: str
) -> None:
    # a server that accepts connections and never answers: what a frozen influxd looks like
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    frozen = changed(
        settings,
        **{
            "influx_url": f"http://127.0.0.1:{port}",
            "influx_write_timeout_seconds": 0.5,
            "database_url": spool_database_url,
        },
    )
    try:
        async with LifespanManager(create_app(frozen)) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            headers = {"Authorization": f"JWT {metrics_token}"}
            async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers) as client:
                started = asyncio.get_running_loop().time()
                responses = await asyncio.gather(*(client.post("/", json=churn(f"v{n}")) for n in range(10)))
                elapsed = asyncio.get_running_loop().time() - started
                spool = await client.get("/spool", headers={"Authorization": f"Bearer {admin_token}"})
    finally:
        server.close()

    assert [response.status_code for response in responses] == [204] * 10
    assert {response.headers["x-stored-in"] for response in responses} == {"spool"}
    # one shared attempt to create the database, not one per client in turn (10 x 0.5 s)
    assert elapsed < 2
    assert spool.status_code == 200, spool.text
    assert spool.json()["spooled_payloads"] == 10
    assert spool.json()["backlog"] is True


async def test_a_large_payload_is_checked_and_encoded_off_the_event_loop_and_fully_stored(
    broker: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str]
) -> None:
    body = churn("v0")
    point = body["data"][0]
    body["data"] = [
        {**point, "tags": {**point["tags"], "Target_Tag": f"v{n}"}, "fields": {"Lines_of_Change": n}}
        for n in range(1000)
    ]
    broken = copy.deepcopy(body)
    broken["data"][999]["fields"]["Lines_of_Change"] = "many"
    assert len(json.dumps(body)) > OFFLOAD_BYTES

    rejected = await broker.post("/", json=broken)
    response = await broker.post("/", json=body)

    assert rejected.status_code == 422
    assert rejected.json()["error"]["details"][0]["loc"] == ["body", "data", 999, "fields", "Lines_of_Change"]
    assert response.status_code == 204, response.text
    points = await reader.points(databases["tfa_code_churn"], "TFA_CodeChurn_Tracking")
    assert len(points) == 1000


async def test_lines_that_cannot_be_encoded_fail_only_their_own_request_of_a_group(
    influx_url: str, reader: InfluxReader, databases: dict[str, str]
) -> None:
    # validation refuses lone surrogates; the writer must not let one slip past fail its neighbours
    influx = InfluxDB(influx_url, timeout_seconds=5)
    writer = GroupCommitWriter(influx, Databases(influx), linger_seconds=0.05, max_points=1000)
    database = databases["tfa_code_churn"]
    good = "TFA_CodeChurn_Tracking,Target_Tag=good Lines_of_Change=1i 1605631431000000000"
    bad = "TFA_CodeChurn_Tracking,Target_Tag=b\ud800d Lines_of_Change=2i 1605631432000000000"
    try:
        results = await asyncio.gather(
            writer.write(database, [good]), writer.write(database, [bad]), return_exceptions=True
        )
    finally:
        await writer.close()
        await influx.close()

    assert results[0] == Stored.INFLUXDB
    assert isinstance(results[1], InvalidInput)
    points = await reader.points(database, "TFA_CodeChurn_Tracking")
    assert [point.tags["Target_Tag"] for point in points] == ["good"]
