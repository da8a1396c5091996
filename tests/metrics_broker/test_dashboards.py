"""The provisioned Grafana (`deploy/grafana/`) against a real InfluxDB loaded through the broker: every
dashboard parses and points at provisioned datasources, every database the broker writes has one, and every
panel's InfluxQL, with Grafana's macros and template variables filled in as Grafana fills them, runs and
shows data from TF-A's sample payloads (and built ones for the kinds without a sample).

InfluxDB here stores its own statistics (`_internal`) every second, so the broker-health dashboard has
something to show within seconds instead of Grafana's usual 10.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from metrics_broker.config import DEFAULT_DATABASES, Settings
from metrics_broker.main import create_app
from tests.metrics_broker import dashboards_payloads
from tests.metrics_broker.conftest import BASE_URL, tfa_fixture
from tests.metrics_broker.dashboards_grafana import (
    DASHBOARDS,
    Dashboard,
    Datasource,
    Selection,
    TimeRange,
    datasource_uid,
    has_a_value,
    load_dashboards,
    load_datasources,
    relative_ms,
    render_macros,
    render_variables,
    unresolved,
    variable_values,
)
from tests.servers import influxdb_server

INTERNAL = "_internal"
HEALTH = "broker-health.json"
TFA_DASHBOARDS = sorted(path.name for path in DASHBOARDS.glob("*.json") if path.name != HEALTH)
# InfluxDB stores its statistics every second here; a few snapshots after the loads make every rate
HEALTH_WAIT_SECONDS = 30.0


def sample_payloads() -> list[dict[str, Any]]:
    """Every TF-A kind: the generator samples unchanged, then built payloads for the other kinds."""
    return [
        tfa_fixture("code_churn.json"),
        tfa_fixture("complexity_tracking.json"),
        tfa_fixture("defects_tracking.json"),
        tfa_fixture("image_size.json"),
        dashboards_payloads.complexity_stats(),
        dashboards_payloads.defects_stats(),
        *dashboards_payloads.misra_defects(),
        dashboards_payloads.rtinstr(),
        *dashboards_payloads.tfm_image_size(),
    ]


@dataclass(frozen=True)
class LoadedInflux:
    client: httpx.AsyncClient
    databases: dict[str, str]
    """Provisioned database name (`TFA_CodeChurn`) → the one this test session's broker wrote to."""


@pytest.fixture(scope="module")
def monitored_influx_url() -> Iterator[str]:
    """An InfluxDB that keeps its own statistics: influxd reads `INFLUXDB_<SECTION>_<KEY>` over its config
    file, so only its start sees these variables."""
    with ExitStack() as stack:
        environment = stack.enter_context(pytest.MonkeyPatch.context())
        environment.setenv("INFLUXDB_MONITOR_STORE_ENABLED", "true")
        environment.setenv("INFLUXDB_MONITOR_STORE_INTERVAL", "1s")
        url = stack.enter_context(influxdb_server())
        environment.undo()
        yield url


@pytest.fixture(scope="module")
async def loaded_influx(
    monitored_influx_url: str, settings: Settings, databases: dict[str, str], metrics_token: str
) -> AsyncIterator[LoadedInflux]:
    """Every sample POSTed through the broker as TF-A's generators send them, into that InfluxDB (the
    session's broker settings otherwise)."""
    async with httpx.AsyncClient(base_url=monitored_influx_url, timeout=30, trust_env=False) as influx:
        for name in databases.values():  # a shared InfluxDB may hold other tests' points in them
            await influx.post("/query", params={"q": f'DROP DATABASE "{name}"'})
        monitored = settings.model_copy(update={"influx_url": monitored_influx_url})
        headers = {"Authorization": f"JWT {metrics_token}"}
        async with LifespanManager(create_app(monitored)) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers) as broker:
                for body in sample_payloads():
                    response = await broker.post("/", json=body)
                    assert response.status_code == 204, (body["metadata"], response.text)
        names = {DEFAULT_DATABASES[family]: name for family, name in databases.items()}
        yield LoadedInflux(influx, {**names, INTERNAL: INTERNAL})
        for name in databases.values():
            await influx.post("/query", params={"q": f'DROP DATABASE "{name}"'})


@pytest.fixture(scope="module")
def datasources(monitored_influx_url: str) -> dict[str, Datasource]:
    """The provisioned datasources as Grafana would read them with its URL variable set to our InfluxDB."""
    return load_datasources({"QAHUB_GRAFANA_INFLUX_URL": monitored_influx_url})


async def run_query(
    influx: LoadedInflux, datasource: Datasource, query: str
) -> tuple[list[dict[str, Any]], str | None]:
    """InfluxDB's series for a query as Grafana sends it (`epoch=ms`), or the error it answered."""
    if datasource.database not in influx.databases:
        return [], f"{datasource.uid} reads {datasource.database!r}, a database the broker does not write"
    response = await influx.client.get(
        f"{datasource.url}/query",
        params={"db": influx.databases[datasource.database], "q": query, "epoch": "ms"},
    )
    if response.status_code != 200:
        return [], f"HTTP {response.status_code}: {response.text}"
    result: dict[str, Any] = response.json()["results"][0]
    if "error" in result:
        return [], str(result["error"])
    series: list[dict[str, Any]] = result.get("series", [])
    return series, None


async def opening_range(
    dashboard: Dashboard, datasources: dict[str, Datasource], influx: LoadedInflux
) -> TimeRange:
    """The range the dashboard opens with (`now-10y` → now), reaching back to its oldest point if need be
    (TF-A's samples are from 2020)."""
    now_ms = int(time.time() * 1000)
    from_ms = now_ms - relative_ms(dashboard.model["time"]["from"])
    used = {
        datasource_uid(target.get("datasource"))
        for panel in dashboard.panels()
        for target in panel["targets"]
    }
    for uid in sorted(uid for uid in used if uid in datasources):
        series, _ = await run_query(influx, datasources[uid], "SELECT * FROM /.*/ ORDER BY time ASC LIMIT 1")
        for one in series:
            from_ms = min(from_ms, one["values"][0][0] - 3_600_000)
    return TimeRange(from_ms, now_ms + 60_000)


async def panel_problems(
    dashboard: Dashboard, datasources: dict[str, Datasource], influx: LoadedInflux
) -> list[str]:
    """What a user opening the dashboard would see go wrong: a variable without values, a panel query
    InfluxDB refuses, or one that draws nothing."""
    time_range = await opening_range(dashboard, datasources, influx)
    problems: list[str] = []
    selections: dict[str, Selection] = {}
    for variable in dashboard.variables:
        name = variable["name"]
        query = render_variables(render_macros(variable["query"], time_range), selections)
        datasource = datasources.get(datasource_uid(variable["datasource"]) or "")
        if datasource is None:
            problems.append(f"variable ${name}: datasource {variable['datasource']} is not provisioned")
            continue
        series, error = await run_query(influx, datasource, query)
        values = variable_values(query, series, variable.get("regex", ""), variable.get("sort", 0))
        if error or not values:
            problems.append(f"variable ${name}: {query!r} → {error or 'no values'}")
            continue
        # Grafana opens on "All" when a variable offers it, else on the first value
        multi = bool(variable.get("multi") or variable.get("includeAll"))
        selections[name] = Selection(values if variable.get("includeAll") else values[:1], multi)
    for panel in dashboard.panels():
        for target in panel.get("targets", []):
            where = f"panel {panel['title']!r} target {target['refId']}"
            uid = datasource_uid(target.get("datasource")) or datasource_uid(panel.get("datasource")) or ""
            query = render_variables(render_macros(target["query"], time_range), selections)
            if unresolved(query):
                problems.append(f"{where}: {unresolved(query)} not filled in: {query}")
                continue
            if uid not in datasources:
                problems.append(f"{where}: datasource {uid!r} is not provisioned")
                continue
            series, error = await run_query(influx, datasources[uid], query)
            if error:
                problems.append(f"{where}: InfluxDB refused {query!r}: {error}")
            elif not has_a_value(series):
                problems.append(f"{where}: no data from {query!r}")
    return problems


def test_every_dashboard_is_json_with_its_own_uid_and_title() -> None:
    paths = sorted(DASHBOARDS.glob("*.json"))
    assert len(paths) >= 8
    models = {path.name: json.loads(path.read_text()) for path in paths}
    uids = [model.get("uid") for model in models.values()]
    titles = [model.get("title") for model in models.values()]
    assert all(uids), uids
    assert all(titles), titles
    assert len(set(uids)) == len(uids), uids
    assert len(set(titles)) == len(titles), titles
    for name, model in models.items():
        assert model.get("id") is None, f"{name}: a provisioned dashboard must not carry a database id"
        assert model["panels"], f"{name} has no panels"


def test_every_panel_and_variable_queries_a_provisioned_datasource() -> None:
    provisioned = load_datasources({})
    for dashboard in load_dashboards():
        references = [(f"variable ${v['name']}", v.get("datasource")) for v in dashboard.variables]
        for panel in dashboard.panels():
            references.append((f"panel {panel['title']!r}", panel.get("datasource")))
            references += [
                (f"panel {panel['title']!r} {t['refId']}", t.get("datasource")) for t in panel["targets"]
            ]
            assert all(target.get("rawQuery") for target in panel["targets"]), panel["title"]
        for where, reference in references:
            assert datasource_uid(reference) in provisioned, (
                f"{dashboard.path.name}: {where} uses {reference}"
            )


def test_every_database_the_broker_writes_to_has_a_datasource() -> None:
    provisioned = {datasource.database for datasource in load_datasources({}).values()}

    assert set(DEFAULT_DATABASES.values()) <= provisioned
    assert INTERNAL in provisioned


def test_datasources_reach_influxdb_at_the_url_grafana_is_started_with() -> None:
    url = "http://influxdb.example:8086"
    datasources = load_datasources({"QAHUB_GRAFANA_INFLUX_URL": url})

    assert {datasource.url for datasource in datasources.values()} == {url}
    assert {datasource.type for datasource in datasources.values()} == {"influxdb"}
    assert len({datasource.name for datasource in datasources.values()}) == len(datasources)


def test_every_datasource_is_used_by_a_dashboard() -> None:
    used = {
        datasource_uid(target.get("datasource"))
        for dashboard in load_dashboards()
        for panel in dashboard.panels()
        for target in panel["targets"]
    }

    assert set(load_datasources({})) <= used


@pytest.mark.parametrize("name", TFA_DASHBOARDS)
async def test_every_panel_shows_the_sample_payloads(
    name: str, loaded_influx: LoadedInflux, datasources: dict[str, Datasource]
) -> None:
    dashboard = next(one for one in load_dashboards() if one.path.name == name)

    problems = await panel_problems(dashboard, datasources, loaded_influx)

    assert not problems, f"{name}:\n" + "\n".join(problems)


async def test_every_broker_health_panel_shows_influxdb_statistics(
    loaded_influx: LoadedInflux, datasources: dict[str, Datasource]
) -> None:
    dashboard = next(one for one in load_dashboards() if one.path.name == HEALTH)
    deadline = time.monotonic() + HEALTH_WAIT_SECONDS

    # rates need two statistics snapshots after the writes: wait for them rather than guess
    problems = await panel_problems(dashboard, datasources, loaded_influx)
    while problems and time.monotonic() < deadline:
        await asyncio.sleep(1)
        problems = await panel_problems(dashboard, datasources, loaded_influx)

    assert not problems, f"{HEALTH}:\n" + "\n".join(problems)
