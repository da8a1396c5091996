"""`POST /api/v1/points`: a batch of points of one registered kind, checked as `POST /` checks them, stored
through the same writer (group commit, spool), once per `Idempotency-Key`."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import httpx

from metrics_broker.points.repository import IdempotencyKeys
from metrics_broker.spool.repository import create_engine
from tests.metrics_broker.influx import InfluxReader
from tests.metrics_broker.kinds import kind_definition, perf_point, register
from tests.metrics_broker.test_auth import PASSWORD, create_user
from tests.metrics_broker.test_writes import churn

MEASUREMENT = "TFA_CodeChurn_Tracking"


def churn_points(count: int, *, prefix: str = "v", lines: Any = 1) -> list[dict[str, Any]]:
    point = churn("x")["data"][0]
    return [
        {
            **point,
            "tags": {**point["tags"], "Target_Tag": f"{prefix}{n}"},
            "fields": {"Lines_of_Change": lines},
        }
        for n in range(count)
    ]


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


async def test_a_batch_of_the_largest_allowed_size_is_stored_and_counted(
    broker: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str]
) -> None:
    response = await broker.post(
        "/api/v1/points", json={"kind": "tfa_code_churn", "points": churn_points(1000)}
    )

    assert response.status_code == 200, response.text
    assert response.json() == {
        "kind": "tfa_code_churn",
        "database": databases["tfa_code_churn"],
        "points": 1000,
        "stored_in": "influxdb",
    }
    assert response.headers["X-Stored-In"] == "influxdb"
    assert await reader.count(databases["tfa_code_churn"]) == 1000


async def test_a_batch_over_the_bound_is_refused_whole(
    broker: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str]
) -> None:
    response = await broker.post(
        "/api/v1/points", json={"kind": "tfa_code_churn", "points": churn_points(1001)}
    )

    assert response.status_code == 422, response.text
    assert "points: holds 1001 points; at most 1000" in response.json()["error"]["message"]
    assert await reader.count(databases["tfa_code_churn"]) == 0


async def test_an_invalid_point_is_named_by_its_index_and_nothing_is_stored(
    broker: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str]
) -> None:
    points = churn_points(5)
    points[3]["fields"]["Lines_of_Change"] = "many"
    del points[4]["tags"]["Base_Tag"]

    response = await broker.post("/api/v1/points", json={"kind": "tfa_code_churn", "points": points})

    assert response.status_code == 422, response.text
    messages = [detail["message"] for detail in response.json()["error"]["details"]]
    assert messages == [
        "points[3].fields.Lines_of_Change: must be a number",
        "points[4].tags.Base_Tag: is required",
    ]
    assert response.json()["error"]["details"][0]["loc"] == ["body", "points", 3, "fields", "Lines_of_Change"]
    assert await reader.count(databases["tfa_code_churn"]) == 0


async def test_a_batch_envelope_other_than_kind_and_points_is_a_422(broker: httpx.AsyncClient) -> None:
    cases = [
        ({"points": churn_points(1)}, "kind: is required"),
        ({"kind": "nope", "points": churn_points(1)}, "kind: 'nope' is not a kind"),
        ({"kind": "tfm_image_size", "points": churn_points(1)}, "own envelope"),
        ({"kind": "tfa_code_churn", "points": []}, "points: must hold at least one point"),
        ({"kind": "tfa_code_churn", "points": {}}, "points: must be an array"),
        ({"kind": "tfa_code_churn", "points": churn_points(1), "database": "x"}, "database: unknown key"),
        ([], "must be a JSON object"),
    ]
    for body, says in cases:
        response = await broker.post("/api/v1/points", json=body)
        assert response.status_code == 422, (body, response.text)
        assert says in response.json()["error"]["message"], (body, response.text)
    not_json = await broker.post("/api/v1/points", content=b"{", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 422


async def test_points_of_a_custom_kind_go_to_its_database(
    anonymous: httpx.AsyncClient,
    broker: httpx.AsyncClient,
    admin_token: str,
    session_reader: InfluxReader,
    custom_database: str,
) -> None:
    kind = await register(
        anonymous, admin_token, kind_definition(project="team-a/perf", database=custom_database)
    )

    response = await broker.post(
        "/api/v1/points", json={"kind": kind, "points": [perf_point(f"runner-{n}") for n in range(50)]}
    )

    assert response.status_code == 200, response.text
    assert response.json()["database"] == custom_database
    assert await session_reader.count(custom_database) == 50


async def test_a_retry_with_the_same_key_and_body_gets_the_first_answer_and_writes_nothing(
    broker: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str]
) -> None:
    body = {"kind": "tfa_code_churn", "points": churn_points(20)}
    key = str(uuid.uuid4())
    first = await broker.post("/api/v1/points", json=body, headers=keyed(key))
    writes = await reader.write_requests()

    retry = await broker.post("/api/v1/points", json=body, headers=keyed(key))

    assert first.status_code == retry.status_code == 200, retry.text
    assert retry.content == first.content
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert await reader.write_requests() == writes
    assert await reader.count(databases["tfa_code_churn"]) == 20


async def test_the_same_key_with_another_body_is_refused_and_writes_nothing(
    broker: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str]
) -> None:
    key = str(uuid.uuid4())
    await broker.post(
        "/api/v1/points", json={"kind": "tfa_code_churn", "points": churn_points(3)}, headers=keyed(key)
    )

    other = await broker.post(
        "/api/v1/points",
        json={"kind": "tfa_code_churn", "points": churn_points(3, prefix="w")},
        headers=keyed(key),
    )

    assert other.status_code == 422, other.text
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert "another body" in other.json()["error"]["message"]
    points = await reader.points(databases["tfa_code_churn"], MEASUREMENT)
    assert sorted(point.tags["Target_Tag"] for point in points) == ["v0", "v1", "v2"]


async def test_keys_are_per_caller(
    anonymous: httpx.AsyncClient,
    broker: httpx.AsyncClient,
    identity: httpx.AsyncClient,
    admin_token: str,
    reader: InfluxReader,
    databases: dict[str, str],
) -> None:
    username = await create_user(identity, admin_token)
    login = await anonymous.post("/auth", json={"username": username, "password": PASSWORD})
    key = str(uuid.uuid4())
    mine = await broker.post(
        "/api/v1/points", json={"kind": "tfa_code_churn", "points": churn_points(2)}, headers=keyed(key)
    )

    theirs = await anonymous.post(
        "/api/v1/points",
        json={"kind": "tfa_code_churn", "points": churn_points(2, prefix="w")},
        headers={**keyed(key), "Authorization": f"JWT {login.json()['access_token']}"},
    )

    assert mine.status_code == 200, mine.text
    assert theirs.status_code == 200, theirs.text
    assert "Idempotent-Replayed" not in theirs.headers
    assert await reader.count(databases["tfa_code_churn"]) == 4


async def test_a_key_whose_request_failed_is_free_for_the_retry(
    broker: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str]
) -> None:
    assert (
        await broker.post("/api/v1/points", json={"kind": "tfa_code_churn", "points": churn_points(1)})
    ).status_code == 200
    key = str(uuid.uuid4())
    # a float into the integer field Lines_of_Change: InfluxDB refuses it
    body = {"kind": "tfa_code_churn", "points": churn_points(1, prefix="late", lines=1.5)}

    refused = await broker.post("/api/v1/points", json=body, headers=keyed(key))
    fixed = await broker.post(
        "/api/v1/points",
        json={"kind": "tfa_code_churn", "points": churn_points(1, prefix="late")},
        headers=keyed(key),
    )

    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "points_rejected"
    assert fixed.status_code == 200, fixed.text
    assert await reader.count(databases["tfa_code_churn"]) == 2


async def test_concurrent_requests_with_one_key_write_once(
    broker: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str]
) -> None:
    body = {"kind": "tfa_code_churn", "points": churn_points(200)}
    key = str(uuid.uuid4())

    answers = await asyncio.gather(
        *(broker.post("/api/v1/points", json=body, headers=keyed(key)) for _ in range(5))
    )

    statuses = sorted(answer.status_code for answer in answers)
    # one writes; the others either replay its answer or are told it is still running
    assert statuses.count(200) >= 1, statuses
    assert set(statuses) <= {200, 409}, statuses
    assert (
        sum("Idempotent-Replayed" not in answer.headers for answer in answers if answer.status_code == 200)
        == 1
    )
    for answer in answers:
        if answer.status_code == 409:
            assert answer.headers["Retry-After"] == "1"
    assert await reader.count(databases["tfa_code_churn"]) == 200


async def test_a_malformed_key_is_a_422(broker: httpx.AsyncClient) -> None:
    for key in ("", "has space", "x" * 256, "é"):
        response = await broker.post(
            "/api/v1/points",
            json={"kind": "tfa_code_churn", "points": churn_points(1)},
            headers=[(b"Idempotency-Key", key.encode())],
        )
        assert response.status_code == 422, (key, response.text)
        assert "Idempotency-Key" in response.json()["error"]["message"]


async def _age_key(
    database_url: str, key: str, *, claimed: timedelta | None = None, expired: bool = False
) -> None:
    """Move a key's clock back, as if its request had hung (`claimed`) or its time were up."""
    connection = await asyncpg.connect(database_url)
    try:
        if claimed is not None:
            await connection.execute(
                "UPDATE metrics_broker.idempotency_key SET response = NULL, claimed_at = now() - $2::interval"
                " WHERE key = $1",
                key,
                claimed,
            )
        if expired:
            await connection.execute(
                "UPDATE metrics_broker.idempotency_key SET expires_at = now() - interval '1 second'"
                " WHERE key = $1",
                key,
            )
    finally:
        await connection.close()


async def test_a_key_held_by_a_request_that_never_finished_is_taken_over_after_the_lease(
    broker: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str], database_url: str
) -> None:
    body = {"kind": "tfa_code_churn", "points": churn_points(2)}
    key = str(uuid.uuid4())
    assert (await broker.post("/api/v1/points", json=body, headers=keyed(key))).status_code == 200

    await _age_key(database_url, key, claimed=timedelta(seconds=10))
    running = await broker.post("/api/v1/points", json=body, headers=keyed(key))
    await _age_key(database_url, key, claimed=timedelta(seconds=61))
    taken_over = await broker.post("/api/v1/points", json=body, headers=keyed(key))

    assert running.status_code == 409, running.text
    assert taken_over.status_code == 200, taken_over.text
    assert "Idempotent-Replayed" not in taken_over.headers
    assert await reader.count(databases["tfa_code_churn"]) == 2


async def test_an_expired_key_may_carry_another_body(
    broker: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str], database_url: str
) -> None:
    key = str(uuid.uuid4())
    first = {"kind": "tfa_code_churn", "points": churn_points(2)}
    assert (await broker.post("/api/v1/points", json=first, headers=keyed(key))).status_code == 200

    await _age_key(database_url, key, expired=True)
    later = await broker.post(
        "/api/v1/points",
        json={"kind": "tfa_code_churn", "points": churn_points(3, prefix="w")},
        headers=keyed(key),
    )

    assert later.status_code == 200, later.text
    assert "Idempotent-Replayed" not in later.headers
    assert await reader.count(databases["tfa_code_churn"]) == 5


async def test_a_request_that_outlived_its_lease_leaves_the_key_to_the_request_that_took_it_over(
    database_url: str,
) -> None:
    # A slow request (longer than the 60 s lease) whose key another request took over must neither give
    # that key back nor write its own answer onto it when it finally ends.
    engine = create_engine(
        database_url.replace("postgresql://", "postgresql+asyncpg://"),
        pool_size=1,
        statement_timeout_ms=5000,
        connect_timeout_s=5,
    )
    keys = IdempotencyKeys(engine)
    key, keep, lease = str(uuid.uuid4()), timedelta(hours=1), timedelta(seconds=60)
    try:
        slow = await keys.claim(
            caller="ci", key=key, body_sha256="a" * 64, accepted_at_ns=1, keep=keep, lease=lease
        )
        await _age_key(database_url, key, claimed=timedelta(seconds=61))
        taker = await keys.claim(
            caller="ci", key=key, body_sha256="b" * 64, accepted_at_ns=2, keep=keep, lease=lease
        )
        assert slow.claimed_at is not None
        await keys.release(caller="ci", key=key, claimed_at=slow.claimed_at, keep_moment=True)
        await keys.complete(caller="ci", key=key, claimed_at=slow.claimed_at, response='{"slow": true}')
        third = await keys.claim(
            caller="ci", key=key, body_sha256="b" * 64, accepted_at_ns=3, keep=keep, lease=lease
        )
    finally:
        await engine.dispose()

    assert (slow.mine, taker.mine) == (True, True)
    assert taker.accepted_at_ns == 2
    # still the taker's, running: a third request waits for it (409 at the API), no answer recorded
    assert (third.mine, third.response, third.body_sha256) == (False, None, "b" * 64)
