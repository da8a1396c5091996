"""How payloads reach InfluxDB: acknowledged only once stored, written together when they arrive
together, a rejection reported to the client whose point it was, InfluxDB down → 503, nothing claimed."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from metrics_broker.config import Settings
from metrics_broker.main import create_app
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


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
async def broker_without_influxdb(settings: Settings, metrics_token: str) -> AsyncIterator[httpx.AsyncClient]:
    """The broker pointed at a port where nothing listens."""
    down = settings.model_copy(update={"influx_url": f"http://127.0.0.1:{_closed_port()}"})
    async with LifespanManager(create_app(down)) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        headers = {"Authorization": f"JWT {metrics_token}"}
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers) as client:
            yield client


async def test_while_influxdb_is_down_payloads_get_503_with_retry_after(
    broker_without_influxdb: httpx.AsyncClient,
) -> None:
    response = await broker_without_influxdb.post("/", json=tfa_fixture("code_churn.json"))

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    error = response.json()["error"]
    assert error["code"] == "service_unavailable"
    assert "nothing was stored" in error["message"]


async def test_readiness_follows_influxdb(
    broker: httpx.AsyncClient, broker_without_influxdb: httpx.AsyncClient
) -> None:
    assert (await broker.get("/healthz")).status_code == 200
    assert (await broker.get("/readyz")).json() == {"status": "ok"}
    assert (await broker_without_influxdb.get("/healthz")).status_code == 200
    down = await broker_without_influxdb.get("/readyz")
    assert down.status_code == 503
    assert down.json()["error"]["message"] == "influxdb is unreachable"


async def test_a_frozen_influxdb_answers_every_waiting_client_503_within_the_write_timeout(
    settings: Settings, metrics_token: str
) -> None:
    # a server that accepts connections and never answers: what a frozen influxd looks like
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    frozen = settings.model_copy(
        update={"influx_url": f"http://127.0.0.1:{port}", "influx_write_timeout_seconds": 0.5}
    )
    try:
        async with LifespanManager(create_app(frozen)) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            headers = {"Authorization": f"JWT {metrics_token}"}
            async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers) as client:
                started = asyncio.get_running_loop().time()
                responses = await asyncio.gather(*(client.post("/", json=churn(f"v{n}")) for n in range(10)))
                elapsed = asyncio.get_running_loop().time() - started
    finally:
        server.close()

    assert [response.status_code for response in responses] == [503] * 10
    assert all("within the write timeout" in r.json()["error"]["message"] for r in responses)
    # one shared attempt to create the database, not one per client in turn (10 x 0.5 s)
    assert elapsed < 2
