"""`GET /metrics`: Prometheus' text format, counting what users did, by route template and outcome."""

from __future__ import annotations

import httpx

from tests.metrics_broker.conftest import tfa_fixture
from tests.metrics_broker.influx import InfluxReader
from tests.metrics_broker.test_writes import churn


def sample(text: str, name: str, labels: str = "") -> float:
    """The value of one sample line (`name{labels} value`); 0 when absent."""
    prefix = f"{name}{{{labels}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.removeprefix(prefix))
    return 0.0


async def test_metrics_count_requests_points_and_rejections_and_show_the_spool(
    broker: httpx.AsyncClient, anonymous: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str]
) -> None:
    database = databases["tfa_code_churn"]
    before = (await broker.get("/metrics")).text

    assert (await broker.post("/", json=tfa_fixture("code_churn.json"))).status_code == 204
    assert (await broker.post("/", json=churn("float", 2.5))).status_code == 422  # integer field already
    assert (await broker.post("/", content=b"{")).status_code == 422
    assert (await broker.get("/schemas/tfa_code_churn")).status_code == 200
    assert (await broker.get("/schemas/made-up")).status_code == 404
    assert (await anonymous.get("/no/such/path")).status_code == 404
    response = await broker.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    after = response.text

    def grew(name: str, labels: str = "") -> float:
        return sample(after, name, labels) - sample(before, name, labels)

    assert grew("metrics_broker_requests_total", 'method="POST",route="/",status="204"') == 1
    assert grew("metrics_broker_requests_total", 'method="POST",route="/",status="422"') == 2
    assert grew("metrics_broker_requests_total", 'method="GET",route="/schemas/{kind}",status="200"') == 1
    assert grew("metrics_broker_requests_total", 'method="GET",route="/schemas/{kind}",status="404"') == 1
    assert grew("metrics_broker_requests_total", 'method="GET",route="unmatched",status="404"') == 1
    assert grew("metrics_broker_points_total", f'database="{database}",stored="influxdb"') == 1
    assert grew("metrics_broker_points_rejected_total", f'database="{database}"') == 1
    assert sample(after, "metrics_broker_influxdb_up") == 1
    assert sample(after, "metrics_broker_spool_up") == 1
    assert sample(after, "metrics_broker_spool_payloads") == 0
    assert "# TYPE metrics_broker_spool_oldest_age_seconds gauge" in after
