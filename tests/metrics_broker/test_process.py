"""The broker as operators run it (`python -m metrics_broker`, configured by QAHUB_* variables), driven
over real HTTP the way TF-A's generator does with curl: `POST /auth`, then `POST /` with `JWT <token>`."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.metrics_broker.conftest import tfa_fixture
from tests.metrics_broker.influx import InfluxReader
from tests.metrics_broker.test_auth import PASSWORD, create_user
from tests.processes import free_port, running, service_env
from tests.qa_api.e2e.qa_api_process import LiveQaApi


@pytest.fixture
def broker_process(
    influx_url: str, qa_api: LiveQaApi, databases: dict[str, str], database_url: str, tmp_path: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    port = free_port()
    env = service_env(
        QAHUB_DATABASE_URL=database_url,
        QAHUB_INFLUX_URL=influx_url,
        QAHUB_API_URL=qa_api.url,
        QAHUB_INFLUX_DATABASES=json.dumps(databases),
        QAHUB_METRICS_BROKER_PORT=str(port),
        QAHUB_LOG_JSON="true",
    )
    url, log = f"http://127.0.0.1:{port}", tmp_path / "broker.log"
    with running("metrics_broker", env=env, workdir=tmp_path, url=url, log_path=log) as process:
        yield url, process, log


async def test_a_generator_logs_in_and_posts_through_the_real_server_then_sigterm_stops_it(
    broker_process: tuple[str, subprocess.Popen[bytes], Path],
    identity: httpx.AsyncClient,
    admin_token: str,
    reader: InfluxReader,
    databases: dict[str, str],
) -> None:
    url, process, log = broker_process
    username = await create_user(identity, admin_token)
    async with httpx.AsyncClient(base_url=url, trust_env=False, timeout=30) as generator:
        auth = await generator.post("/auth", json={"username": username, "password": PASSWORD})
        assert auth.status_code == 200, auth.text
        token = auth.json()["access_token"]
        posted = await generator.post(
            "/",
            content=json.dumps(tfa_fixture("code_churn.json")),
            headers={"Content-Type": "application/json", "Authorization": f"JWT {token}"},
        )
        assert posted.status_code == 204, posted.text
        bad = await generator.post("/", content=b"{", headers={"Authorization": f"JWT {token}"})
        assert bad.status_code == 422
        assert bad.json()["error"]["code"] == "invalid_input"

    [point] = await reader.points(databases["tfa_code_churn"], "TFA_CodeChurn_Tracking")
    assert point.tags["Target_Tag"] == "v2.4"
    process.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal it got, as recent versions do
    assert process.wait(timeout=15) in (0, -signal.SIGTERM), log.read_text()
    text = log.read_text()
    assert "Application shutdown complete." in text
    assert "could not look into the spool" not in text
    # the access log names the requests, not the token
    assert "POST / 204" in text
    assert token not in text


def test_an_idle_broker_and_the_qa_api_it_polls_log_nothing_at_info(
    influx_url: str, qa_api: LiveQaApi, databases: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = service_env(
        QAHUB_DATABASE_URL=database_url,
        QAHUB_INFLUX_URL=influx_url,
        QAHUB_API_URL=qa_api.url,
        QAHUB_INFLUX_DATABASES=json.dumps(databases),
        QAHUB_METRICS_BROKER_PORT=str(port),
        QAHUB_LOG_JSON="true",
        QAHUB_REVOCATION_REFRESH_SECONDS="1",
    )
    url, log = f"http://127.0.0.1:{port}", tmp_path / "broker.log"
    with running("metrics_broker", env=env, workdir=tmp_path, url=url, log_path=log):
        time.sleep(0.5)  # the answer to the readiness probe is logged
        broker_mark, qa_api_mark = log.stat().st_size, qa_api.mark()
        time.sleep(3.5)  # three revocation refreshes, each a request to qa_api
        with log.open("rb") as lines:
            lines.seek(broker_mark)
            logged = [json.loads(line) for line in lines.read().splitlines()]
        polled = qa_api.requests_since(qa_api_mark)

    assert [entry for entry in logged if entry["level"] != "debug"] == []
    assert polled == []  # its access lines for the polls are DEBUG
