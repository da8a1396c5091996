"""Nothing acknowledged is lost: while InfluxDB is dead or frozen, payloads are acknowledged from the
spool (PostgreSQL) within the write timeout, and the drainer writes them, exactly once, when it is back,
even after the broker itself restarted. A spooled payload InfluxDB then rejects becomes a dead letter.

Each test has its own `influxd` (to kill, freeze and restart) and its own spool database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from metrics_broker.config import Settings
from metrics_broker.main import create_app
from metrics_broker.spool.repository import DRAIN_LOCK, Spool, create_engine
from tests.metrics_broker.conftest import BASE_URL, tfa_fixture
from tests.metrics_broker.influx import InfluxReader
from tests.metrics_broker.test_writes import changed, churn
from tests.processes import free_port
from tests.servers import ROOT, server_folder

SCRIPT = ROOT / "deploy/local/influxdb.sh"
MEASUREMENT = "TFA_CodeChurn_Tracking"


class OwnInfluxd:
    """An influxd of this test's own, on a fixed port, that it may kill, freeze and start again."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, **environment: str) -> None:
        """`environment`: influxd's settings as its `INFLUXDB_*` variables (they override its file)."""
        subprocess.run(
            [SCRIPT, "start", self.folder, str(self.port)],
            check=True,
            capture_output=True,
            env={**os.environ, **environment},
        )

    @property
    def pid(self) -> int:
        return int((self.folder / "influxd.pid").read_text())

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush; what InfluxDB acknowledged must be on disk already."""
        os.kill(self.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while subprocess.run(
            ["ps", "-o", "stat=", "-p", str(self.pid)], capture_output=True, text=True
        ).stdout.strip()[:1] not in ("", "Z"):
            assert time.monotonic() < deadline, "influxd survived SIGKILL"
            time.sleep(0.05)

    def freeze(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def stop(self) -> None:
        subprocess.run([SCRIPT, "stop", self.folder], check=False, capture_output=True)


@pytest.fixture
def influxd() -> Iterator[OwnInfluxd]:
    folder = server_folder("qahub-influx-fault-")
    server = OwnInfluxd(folder / "influxdb")
    server.start()
    try:
        yield server
    finally:
        # a frozen influxd cannot stop: thaw it first (it may be dead already)
        if (server.folder / "influxd.pid").exists():
            with contextlib.suppress(ProcessLookupError):
                server.thaw()
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def fault_settings(settings: Settings, influxd: OwnInfluxd, spool_database_url: str) -> Settings:
    return changed(
        settings,
        influx_url=influxd.url,
        database_url=spool_database_url,
        influx_write_timeout_seconds=1.0,
        spool_retry_min_seconds=0.1,
        spool_retry_max_seconds=0.5,
    )


@asynccontextmanager
async def running_broker(settings: Settings, token: str) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(create_app(settings)) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        headers = {"Authorization": f"JWT {token}"}
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers) as client:
            yield client


async def spool_state(broker: httpx.AsyncClient, admin_token: str) -> dict[str, Any]:
    response = await broker.get("/spool", headers={"Authorization": f"Bearer {admin_token}"})
    assert response.status_code == 200, response.text
    state: dict[str, Any] = response.json()
    return state


async def drained(broker: httpx.AsyncClient, admin_token: str) -> dict[str, Any]:
    """The spool's state once the drainer has emptied it (within 30 s)."""
    deadline = time.monotonic() + 30
    while True:
        state = await spool_state(broker, admin_token)
        if state["spooled_payloads"] == 0 and not state["backlog"]:
            return state
        assert time.monotonic() < deadline, f"the spool did not drain: {state}"
        await asyncio.sleep(0.1)


async def stored_targets(
    influxd: OwnInfluxd, database: str, *, auth: tuple[str, str] | None = None
) -> list[str]:
    reader = InfluxReader(influxd.url)
    if auth is not None:
        reader.client.auth = httpx.BasicAuth(*auth)
    try:
        return [point.tags["Target_Tag"] for point in await reader.points(database, MEASUREMENT)]
    finally:
        await reader.aclose()


async def test_killing_influxdb_mid_load_loses_none_of_the_acknowledged_points(
    influxd: OwnInfluxd,
    fault_settings: Settings,
    metrics_token: str,
    admin_token: str,
    databases: dict[str, str],
) -> None:
    acknowledged: list[str] = []
    answers: list[int] = []
    async with running_broker(fault_settings, metrics_token) as broker:
        for wave in range(8):
            if wave == 3:
                influxd.kill()
            targets = [f"w{wave}-{n}" for n in range(20)]
            responses = await asyncio.gather(*(broker.post("/", json=churn(target, 1)) for target in targets))
            answers += [response.status_code for response in responses]
            acknowledged += [t for t, r in zip(targets, responses, strict=True) if r.status_code == 204]
        spooled = await spool_state(broker, admin_token)
        influxd.start()
        await drained(broker, admin_token)

    assert answers == [204] * 160
    assert spooled["spooled_payloads"] > 0
    stored = await stored_targets(influxd, databases["tfa_code_churn"])
    assert sorted(stored) == sorted(acknowledged)


async def test_a_frozen_influxdb_delays_no_client_beyond_the_write_timeout_and_loses_nothing(
    influxd: OwnInfluxd,
    fault_settings: Settings,
    metrics_token: str,
    admin_token: str,
    databases: dict[str, str],
) -> None:
    async with running_broker(fault_settings, metrics_token) as broker:
        assert (await broker.post("/", json=churn("before"))).headers["x-stored-in"] == "influxdb"
        influxd.freeze()
        timings = []
        for n in range(5):
            started = time.monotonic()
            response = await broker.post("/", json=churn(f"frozen{n}"))
            timings.append(time.monotonic() - started)
            assert response.status_code == 204
            assert response.headers["x-stored-in"] == "spool"
        influxd.thaw()
        await drained(broker, admin_token)

    # the first waits out the write timeout (1 s); the others queue behind it in the spool at once
    assert max(timings) < 1.0 + 1.0
    assert sum(timings[1:]) < 1.0
    stored = await stored_targets(influxd, databases["tfa_code_churn"])
    assert sorted(stored) == sorted(["before", *(f"frozen{n}" for n in range(5))])


async def test_a_restarted_broker_drains_what_its_previous_run_spooled(
    influxd: OwnInfluxd,
    fault_settings: Settings,
    metrics_token: str,
    admin_token: str,
    databases: dict[str, str],
) -> None:
    influxd.kill()
    async with running_broker(fault_settings, metrics_token) as first:
        # still ready: payloads can be stored, in the spool
        assert (await first.get("/readyz")).status_code == 200
        for n in range(5):
            response = await first.post("/", json=churn(f"spooled{n}"))
            assert response.headers["x-stored-in"] == "spool"
        assert (await spool_state(first, admin_token))["spooled_payloads"] == 5
        exposed = (await first.get("/metrics")).text
    influxd.start()

    async with running_broker(fault_settings, metrics_token) as second:
        await drained(second, admin_token)

    stored = await stored_targets(influxd, databases["tfa_code_churn"])
    assert sorted(stored) == [f"spooled{n}" for n in range(5)]
    assert "metrics_broker_influxdb_up 0" in exposed
    assert "metrics_broker_spool_payloads 5" in exposed
    assert (
        f'metrics_broker_points_total{{database="{databases["tfa_code_churn"]}",stored="spool"}} 5' in exposed
    )


async def test_a_spooled_point_influxdb_rejects_becomes_a_dead_letter_and_the_rest_drains(
    influxd: OwnInfluxd,
    fault_settings: Settings,
    metrics_token: str,
    admin_token: str,
    databases: dict[str, str],
) -> None:
    async with running_broker(fault_settings, metrics_token) as broker:
        # Lines_of_Change becomes an integer field
        assert (await broker.post("/", json=churn("first", 1))).headers["x-stored-in"] == "influxdb"
        influxd.kill()
        for body in (churn("good1", 2), churn("float", 2.5), churn("good2", 3)):
            assert (await broker.post("/", json=body)).headers["x-stored-in"] == "spool"
        influxd.start()
        state = await drained(broker, admin_token)

    assert state["dead_letters"] == 1
    [letter] = state["recent_dead_letters"]
    assert "field type conflict" in letter["reason"]
    assert "Target_Tag=float" in letter["lines"]
    assert letter["database"] == databases["tfa_code_churn"]
    stored = await stored_targets(influxd, databases["tfa_code_churn"])
    assert sorted(stored) == ["first", "good1", "good2"]


async def test_the_spool_state_is_for_admins(broker: httpx.AsyncClient) -> None:
    response = await broker.get("/spool")

    assert response.status_code == 403
    assert "admin" in response.json()["error"]["message"]


async def test_a_database_url_with_sslmode_reaches_the_spool(spool_database_url: str) -> None:
    # asyncpg refuses `sslmode` as a keyword: the broker hands it over as asyncpg's `ssl`
    engine = create_engine(
        spool_database_url.replace("postgresql://", "postgresql+asyncpg://") + "?sslmode=disable",
        pool_size=1,
        statement_timeout_ms=1000,
        connect_timeout_s=5,
    )
    try:
        assert await Spool(engine).databases() == set()
    finally:
        await engine.dispose()


async def test_with_postgresql_down_an_influxdb_outage_is_a_503_and_writes_resume_when_influxdb_is_back(
    influxd: OwnInfluxd, fault_settings: Settings, metrics_token: str, databases: dict[str, str]
) -> None:
    no_spool = changed(
        fault_settings,
        database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/qahub",
        spool_timeout_seconds=1.0,
    )
    async with running_broker(no_spool, metrics_token) as broker:
        influxd.kill()
        during = await broker.post("/", json=churn("during"))
        influxd.start()
        after = await broker.post("/", json=churn("after"))

    assert during.status_code == 503
    assert during.headers["retry-after"] == "5"
    # the failed append did not make later payloads queue for a spool that cannot take them
    assert after.status_code == 204, after.text
    assert after.headers["x-stored-in"] == "influxdb"
    assert await stored_targets(influxd, databases["tfa_code_churn"]) == ["after"]


async def test_a_batch_acknowledged_from_the_spool_is_replayed_on_retry_and_drained_once(
    influxd: OwnInfluxd,
    fault_settings: Settings,
    metrics_token: str,
    admin_token: str,
    databases: dict[str, str],
) -> None:
    points = [churn(f"batch{n}")["data"][0] for n in range(300)]
    body = {"kind": "tfa_code_churn", "points": points}
    async with running_broker(fault_settings, metrics_token) as broker:
        influxd.kill()
        first = await broker.post("/api/v1/points", json=body, headers={"Idempotency-Key": "nightly-42"})
        retry = await broker.post("/api/v1/points", json=body, headers={"Idempotency-Key": "nightly-42"})
        spooled = await spool_state(broker, admin_token)
        influxd.start()
        await drained(broker, admin_token)

    assert first.status_code == 200, first.text
    assert first.json()["stored_in"] == "spool"
    assert retry.content == first.content
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert spooled["spooled_points"] == 300
    stored = await stored_targets(influxd, databases["tfa_code_churn"])
    assert sorted(stored) == sorted(f"batch{n}" for n in range(300))


async def spool_directly(spool_database_url: str, database: str, lines: str) -> None:
    """Spool a payload as another broker sharing the spool does."""
    connection = await asyncpg.connect(spool_database_url)
    try:
        await connection.execute(
            "INSERT INTO metrics_broker.spooled_payload (database, lines, points) VALUES ($1, $2, $3)",
            database,
            lines,
            lines.count("\n") + 1,
        )
    finally:
        await connection.close()


@pytest.fixture
def influxd_with_users(influxd: OwnInfluxd) -> OwnInfluxd:
    """The same influxd, restarted with authentication on."""
    influxd.stop()
    influxd.start(INFLUXDB_HTTP_AUTH_ENABLED="true")
    return influxd


INFLUX_ADMIN = ("admin", "admin-pw")


async def influxql(influxd: OwnInfluxd, q: str) -> None:
    """An InfluxQL statement as InfluxDB's administrator (the first one, created without credentials)."""
    user, password = INFLUX_ADMIN
    async with httpx.AsyncClient(base_url=influxd.url, trust_env=False) as client:
        response = await client.post("/query", params={"q": q, "u": user, "p": password})
    assert response.status_code == 200, response.text
    assert "error" not in response.text, response.text


async def test_a_database_influxdb_refuses_waits_in_the_spool_while_the_others_are_written_and_drained(
    influxd_with_users: OwnInfluxd,
    fault_settings: Settings,
    metrics_token: str,
    admin_token: str,
    databases: dict[str, str],
    spool_database_url: str,
) -> None:
    influxd = influxd_with_users
    churn_db, sizes_db = databases["tfa_code_churn"], databases["tfa_image_size"]
    # the broker's InfluxDB user is no admin: it may write the churn database only, for now
    await influxql(influxd, "CREATE USER admin WITH PASSWORD 'admin-pw' WITH ALL PRIVILEGES")
    await influxql(influxd, f'CREATE DATABASE "{churn_db}"')
    await influxql(influxd, f'CREATE DATABASE "{sizes_db}"')
    await influxql(influxd, "CREATE USER broker WITH PASSWORD 'broker-pw'")
    await influxql(influxd, f'GRANT WRITE ON "{churn_db}" TO broker')
    writer = changed(fault_settings, influx_username="broker", influx_password="broker-pw")

    async with running_broker(writer, metrics_token) as broker:
        refused = await broker.post("/", json=tfa_fixture("image_size.json"))
        # InfluxDB down for a moment: a churn payload waits in the spool too
        influxd.kill()
        spooled = await broker.post("/", json=churn("spooled"))
        influxd.start(INFLUXDB_HTTP_AUTH_ENABLED="true")
        # the churn database drains although the sizes database keeps being refused ...
        deadline = time.monotonic() + 30
        while (state := await spool_state(broker, admin_token))["backlogged_databases"] != [sizes_db]:
            assert time.monotonic() < deadline, f"the churn database did not drain: {state}"
            await asyncio.sleep(0.1)
        # ... and its new payloads go to InfluxDB straight away
        direct = await broker.post("/", json=churn("direct"))
        stuck = await broker.post("/", json=tfa_fixture("image_size.json"))
        waiting = await spool_state(broker, admin_token)
        exposed = (await broker.get("/metrics")).text
        # a payload another broker sharing the spool left there is found and drained, though this
        # broker's backlog never empties meanwhile (the sizes database is still refused)
        await spool_directly(
            spool_database_url, churn_db, f"{MEASUREMENT},Target_Tag=orphan Lines_of_Change=7i"
        )
        while "orphan" not in await stored_targets(influxd, churn_db, auth=INFLUX_ADMIN):
            assert time.monotonic() < deadline + 30, "a payload another broker spooled was not drained"
            await asyncio.sleep(0.1)
        await influxql(influxd, f'GRANT WRITE ON "{sizes_db}" TO broker')
        await drained(broker, admin_token)

    assert refused.status_code == 204, refused.text
    assert [refused.headers["x-stored-in"], spooled.headers["x-stored-in"]] == ["spool", "spool"]
    assert direct.headers["x-stored-in"] == "influxdb"
    assert stuck.headers["x-stored-in"] == "spool"
    assert waiting["spooled_payloads"] == 2
    assert list(waiting["waiting_databases"]) == [sizes_db]
    assert f'metrics_broker_spool_backlog{{database="{sizes_db}"}} 1' in exposed
    assert f'metrics_broker_spool_retry_delay_seconds{{database="{sizes_db}"}}' in exposed
    assert f'metrics_broker_spool_backlog{{database="{churn_db}"}}' not in exposed
    reader = InfluxReader(influxd.url)
    reader.client.auth = httpx.BasicAuth(*INFLUX_ADMIN)
    try:
        churned = [point.tags["Target_Tag"] for point in await reader.points(churn_db, MEASUREMENT)]
        sizes = await reader.points(sizes_db, "zynqmp-tspd-tdram")
    finally:
        await reader.aclose()
    assert sorted(churned) == ["direct", "orphan", "spooled"]
    # both payloads are the same point (same tags and time): stored once
    assert len(sizes) == 1
    assert sizes[0].fields["BL31_B"] == 26676


async def test_a_database_another_broker_is_draining_is_left_to_it_and_its_new_payloads_queue_behind(
    influxd: OwnInfluxd,
    fault_settings: Settings,
    metrics_token: str,
    admin_token: str,
    databases: dict[str, str],
    spool_database_url: str,
) -> None:
    churn_db = databases["tfa_code_churn"]
    other_broker = await asyncpg.connect(spool_database_url)
    try:
        async with running_broker(fault_settings, metrics_token) as broker:
            influxd.kill()
            older = await broker.post("/", json=churn("same-point", 1))
            # another broker sharing the spool starts draining this database (it holds its drain lock)
            await other_broker.execute("SELECT pg_advisory_lock($1, hashtext($2))", DRAIN_LOCK, churn_db)
            influxd.start()
            deadline = time.monotonic() + 30
            while (await spool_state(broker, admin_token))["draining_elsewhere"] != [churn_db]:
                assert time.monotonic() < deadline, "the broker did not leave the database to the other"
                await asyncio.sleep(0.1)
            # the same point, corrected: it must not overtake the older value waiting in the spool
            newer = await broker.post("/", json=churn("same-point", 2))
            left = await spool_state(broker, admin_token)
            await other_broker.execute("SELECT pg_advisory_unlock($1, hashtext($2))", DRAIN_LOCK, churn_db)
            await drained(broker, admin_token)
    finally:
        await other_broker.close()

    assert [older.headers["x-stored-in"], newer.headers["x-stored-in"]] == ["spool", "spool"]
    assert left["spooled_payloads"] == 2
    reader = InfluxReader(influxd.url)
    try:
        [point] = await reader.points(churn_db, MEASUREMENT)
    finally:
        await reader.aclose()
    assert point.fields["Lines_of_Change"] == 2


async def test_a_retry_sent_while_the_first_attempt_waits_stamps_the_same_moment(
    influxd: OwnInfluxd,
    fault_settings: Settings,
    metrics_token: str,
    admin_token: str,
    databases: dict[str, str],
) -> None:
    # TF-A's defect payloads carry no `time`: the broker stamps each with the moment it accepted it
    body = tfa_fixture("defects_tracking.json")
    async with running_broker(fault_settings, metrics_token) as broker:
        assert (await broker.post("/", json=body)).status_code == 204  # creates the database
        influxd.freeze()
        # the client gives up on its first attempt (it waits for InfluxDB) and sends the payload again
        answered, retry = await asyncio.gather(broker.post("/", json=body), broker.post("/", json=body))
        influxd.thaw()
        await drained(broker, admin_token)

    assert [answered.status_code, retry.status_code] == [204, 204]
    reader = InfluxReader(influxd.url)
    try:
        stored = await reader.points(databases["tfa_defects"], "TFA_Defects_Tracking")
    finally:
        await reader.aclose()
    # the warm-up payload's point, and one point for the two attempts
    assert len(stored) == 2


async def test_a_payload_queued_behind_a_stalled_write_is_answered_within_the_write_timeout(
    influxd: OwnInfluxd,
    fault_settings: Settings,
    metrics_token: str,
    admin_token: str,
    databases: dict[str, str],
) -> None:
    # The promise: with InfluxDB frozen, requests are still answered within the write timeout. A
    # payload arriving while another's write is stalled queues behind it, and must not wait for a stalled
    # write of its own after that one times out (twice the timeout).
    timeout = 2.0
    settings = changed(fault_settings, influx_write_timeout_seconds=timeout)
    async with running_broker(settings, metrics_token) as broker:
        assert (await broker.post("/", json=churn("before"))).headers["x-stored-in"] == "influxdb"
        influxd.freeze()
        first = asyncio.create_task(broker.post("/", json=churn("first")))
        await asyncio.sleep(0.2)  # the first payload's write is in flight, and stalled
        started = time.monotonic()
        queued = await broker.post("/", json=churn("queued"))
        waited = time.monotonic() - started
        answered = await first
        influxd.thaw()
        await drained(broker, admin_token)

    assert [answered.headers["x-stored-in"], queued.headers["x-stored-in"]] == ["spool", "spool"]
    assert waited < timeout + 1.0, f"the queued payload waited {waited:.1f} s"
    stored = await stored_targets(influxd, databases["tfa_code_churn"])
    assert sorted(stored) == ["before", "first", "queued"]
