"""While PostgreSQL is down, each service's background loops log that they fail once, not once per
attempt, and once that they work again; an `Outage` reminds now and then while it lasts.

Each service runs in-process on a PostgreSQL cluster of this module's own (`deploy/local/postgres.sh`),
stopped for real for a few seconds and started again on the same port.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from metrics_broker.config import Settings as BrokerSettings
from metrics_broker.main import create_app as create_broker
from qa_api.config import Settings as QaApiSettings
from qa_api.main import create_app as create_qa_api
from qahub_shared.logging import Outage
from tests.processes import free_port
from tests.servers import ROOT, migrate, server_folder
from webhook_listener.config import Settings as ListenerSettings
from webhook_listener.main import create_app as create_listener

SCRIPT = ROOT / "deploy/local/postgres.sh"
RECOVERY_TIMEOUT_S = 30.0


class StoppablePostgres:
    """A throwaway cluster in `folder`: `url` while it runs; `down_for` stops it and starts it again."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.url = self.start()

    def start(self) -> str:
        started = subprocess.run(
            [SCRIPT, "start", self.folder],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "QAHUB_PG_FSYNC": "off"},
        )
        return started.stdout.strip()

    def stop(self) -> None:
        subprocess.run([SCRIPT, "stop", self.folder], check=True)

    async def down_for(self, seconds: float) -> None:
        # the scripts block: in a thread, so that the service's loops run meanwhile
        await asyncio.to_thread(self.stop)
        await asyncio.sleep(seconds)
        await asyncio.to_thread(self.start)


@pytest.fixture(scope="module")
def postgres() -> Iterator[StoppablePostgres]:
    folder = server_folder("qahub-outage-")
    subprocess.run([SCRIPT, "install"], check=True)
    server = StoppablePostgres(folder / "pg")
    try:
        for service in ("qa_api", "metrics_broker", "webhook_listener"):
            migrate(server.url, service)
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def logged(caplog: pytest.LogCaptureFixture, logger: str) -> list[tuple[int, str]]:
    return [(record.levelno, record.getMessage()) for record in caplog.records if record.name == logger]


async def outage_and_recovery(
    app: FastAPI, postgres: StoppablePostgres, caplog: pytest.LogCaptureFixture, logger: str, *, down_s: float
) -> list[tuple[int, str]]:
    """What `logger` logs from the moment PostgreSQL stops for `down_s` seconds until it says it works
    again (the app running meanwhile)."""
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30):
        await asyncio.sleep(1.5)  # healthy for a while first
        caplog.clear()
        await postgres.down_for(down_s)
        deadline = asyncio.get_running_loop().time() + RECOVERY_TIMEOUT_S
        while not any("works again" in message for _, message in logged(caplog, logger)):
            assert asyncio.get_running_loop().time() < deadline, logged(caplog, logger)
            await asyncio.sleep(0.1)
    return logged(caplog, logger)


async def test_qa_apis_revocation_refresh_logs_a_database_outage_once_and_its_end_once(
    postgres: StoppablePostgres, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    app = create_qa_api(
        QaApiSettings(_env_file=None, database_url=postgres.url, revocation_refresh_seconds=1)
    )

    records = await outage_and_recovery(app, postgres, caplog, "qahub_shared.auth.revocations", down_s=4)

    assert [level for level, _ in records] == [logging.WARNING, logging.INFO], records
    assert records[0][1].startswith("refreshing token revocations fails: ")
    assert records[1][1].startswith("refreshing token revocations works again, after ")


async def test_the_listeners_dispatcher_logs_a_database_outage_once_and_its_end_once(
    postgres: StoppablePostgres, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.INFO)
    settings = ListenerSettings(
        _env_file=None,
        webhook_database_url=postgres.url,
        api_url=f"http://127.0.0.1:{free_port()}",  # no qa_api: the listener's keys are not needed here
        data_dir=tmp_path,
        webhook_poll_seconds=0.2,
        webhook_reconcile_seconds=0,
    )

    records = await outage_and_recovery(
        create_listener(settings), postgres, caplog, "webhook_listener.workers", down_s=3
    )

    # some 15 polls failed meanwhile
    assert [level for level, _ in records] == [logging.ERROR, logging.INFO], records
    assert records[0][1].startswith("dispatching deliveries fails: ")
    assert records[1][1].startswith("dispatching deliveries works again, after ")


async def test_the_brokers_spool_drainer_logs_a_database_outage_once_and_its_end_once(
    postgres: StoppablePostgres, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    closed = f"http://127.0.0.1:{free_port()}"
    settings = BrokerSettings(
        _env_file=None,
        database_url=postgres.url,
        influx_url=closed,
        api_url=closed,
        spool_retry_min_seconds=0.2,
    )

    # the drainer looks into the spool every 5 s when idle: down long enough for it to notice
    records = await outage_and_recovery(
        create_broker(settings), postgres, caplog, "metrics_broker.spool.drainer", down_s=7
    )

    assert [level for level, _ in records] == [logging.WARNING, logging.INFO], records
    assert records[0][1].startswith("spool: draining fails: ")
    assert records[1][1].startswith("spool: draining works again, after ")


def test_an_outage_that_goes_on_is_recalled_at_each_reminder_with_its_duration(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    logger = logging.getLogger("tests.outage")
    outage = Outage(logger, "fetching the weather", remind_seconds=0.05)

    outage.failed(ConnectionRefusedError(111, "Connection refused"))
    outage.failed("still refused")  # before the reminder is due: nothing
    reminded_before = len(logged(caplog, "tests.outage"))
    asyncio.run(asyncio.sleep(0.06))
    outage.failed("refused again")
    outage.succeeded()
    outage.succeeded()  # working already: nothing

    assert reminded_before == 1
    assert logged(caplog, "tests.outage") == [
        (
            logging.WARNING,
            "fetching the weather fails: ConnectionRefusedError: [Errno 111] Connection refused",
        ),
        (logging.WARNING, "fetching the weather still fails, for 0 s now (3 attempts): refused again"),
        (logging.INFO, "fetching the weather works again, after 0 s (3 failed attempts)"),
    ]
