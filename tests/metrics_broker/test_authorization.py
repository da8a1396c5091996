"""Who writes what: a token restricted to projects writes only the custom kinds of those projects;
an unrestricted `metrics:write` token writes every kind; TF-A's kinds take any `metrics:write` token, as
in TF-A. A refused payload is a 403 and nothing of it is stored."""

from __future__ import annotations

import httpx

from tests.metrics_broker.conftest import tfa_fixture
from tests.metrics_broker.influx import InfluxReader
from tests.metrics_broker.kinds import envelope, kind_definition, perf_point, register, restricted_token


def jwt(token: str) -> dict[str, str]:
    return {"Authorization": f"JWT {token}"}


async def test_a_token_restricted_to_a_namespace_writes_the_kinds_owned_there(
    anonymous: httpx.AsyncClient,
    identity: httpx.AsyncClient,
    admin_token: str,
    session_reader: InfluxReader,
    custom_database: str,
) -> None:
    kind = await register(
        anonymous, admin_token, kind_definition(project="team-a/perf/nightly", database=custom_database)
    )
    token = await restricted_token(identity, admin_token, ["team-a/*"])

    response = await anonymous.post("/", json=envelope(kind, perf_point()), headers=jwt(token))

    assert response.status_code == 204, response.text
    assert await session_reader.count(custom_database) == 1


async def test_a_token_restricted_elsewhere_is_refused_and_nothing_is_stored(
    anonymous: httpx.AsyncClient,
    identity: httpx.AsyncClient,
    admin_token: str,
    session_reader: InfluxReader,
    custom_database: str,
) -> None:
    kind = await register(
        anonymous, admin_token, kind_definition(project="team-a/perf", database=custom_database)
    )
    token = await restricted_token(identity, admin_token, ["team-b/*", "team-a/other"])

    response = await anonymous.post("/", json=envelope(kind, perf_point()), headers=jwt(token))
    batch = await anonymous.post(
        "/api/v1/points", json={"kind": kind, "points": [perf_point()]}, headers=jwt(token)
    )

    for refused in (response, batch):
        assert refused.status_code == 403, refused.text
        error = refused.json()["error"]
        assert error["code"] == "forbidden"
        assert "team-a/perf" in error["message"]
    assert custom_database not in await session_reader.databases()


async def test_an_unrestricted_metrics_token_writes_every_kind(
    anonymous: httpx.AsyncClient,
    broker: httpx.AsyncClient,
    admin_token: str,
    session_reader: InfluxReader,
    custom_database: str,
) -> None:
    kind = await register(
        anonymous, admin_token, kind_definition(project="team-a/perf", database=custom_database)
    )

    response = await broker.post("/", json=envelope(kind, perf_point()))

    assert response.status_code == 204, response.text
    assert await session_reader.count(custom_database) == 1


async def test_a_restricted_token_still_writes_tfa_kinds(
    anonymous: httpx.AsyncClient, identity: httpx.AsyncClient, admin_token: str
) -> None:
    token = await restricted_token(identity, admin_token, ["team-b/*"])

    response = await anonymous.post("/", json=tfa_fixture("code_churn.json"), headers=jwt(token))

    assert response.status_code == 204, response.text


async def test_a_token_without_metrics_write_writes_no_custom_kind(
    anonymous: httpx.AsyncClient,
    identity: httpx.AsyncClient,
    admin_token: str,
    session_reader: InfluxReader,
    custom_database: str,
) -> None:
    kind = await register(
        anonymous, admin_token, kind_definition(project="team-a/perf", database=custom_database)
    )
    # runs:read opens qa_api only: the broker refuses it before looking at the kind
    token = await restricted_token(identity, admin_token, None, scopes=["runs:read"])

    response = await anonymous.post("/", json=envelope(kind, perf_point()), headers=jwt(token))

    assert response.status_code in (401, 403), response.text
    assert custom_database not in await session_reader.databases()
