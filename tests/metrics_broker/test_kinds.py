"""Custom kinds: an admin registers one through the API; teams then send its points in TF-A's envelope,
checked as strictly as TF-A's kinds and stored with the declared types in the kind's own database."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import jsonschema
import pytest

from metrics_broker.config import Settings
from metrics_broker.tfa.kinds import KINDS
from metrics_broker.tfa.validation import kind_names
from tests.metrics_broker.conftest import tfa_fixture
from tests.metrics_broker.influx import InfluxReader
from tests.metrics_broker.kinds import envelope, kind_definition, perf_point, register, restricted_token
from tests.metrics_broker.test_spool import running_broker
from tests.metrics_broker.test_writes import _closed_port, changed

PROJECT = "team-a/perf"


def admin(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_an_admin_registers_a_kind_and_its_points_land_with_the_declared_types(
    anonymous: httpx.AsyncClient,
    broker: httpx.AsyncClient,
    admin_token: str,
    session_reader: InfluxReader,
    custom_database: str,
) -> None:
    kind = await register(anonymous, admin_token, kind_definition(project=PROJECT, database=custom_database))

    # `p50_ms` is a float field even when sent as 12; `build` is optional
    response = await broker.post(
        "/",
        json=envelope(
            kind,
            perf_point("runner-1", p50_ms=12, passed=True, note='say "hi", ok'),
            {**perf_point("runner-2"), "tags": {"host": "runner-2", "build": "1234"}},
        ),
    )

    assert response.status_code == 204, response.text
    points = sorted(await session_reader.points(custom_database, "latency"), key=lambda p: p.tags["host"])
    # InfluxDB shows a tag a series lacks as "" (GROUP BY *)
    assert [(point.tags, point.fields) for point in points] == [
        (
            {"build": "", "host": "runner-1"},
            {"p50_ms": 12.0, "requests": 1000, "passed": True, "note": 'say "hi", ok'},
        ),
        ({"build": "1234", "host": "runner-2"}, {"p50_ms": 12.5, "requests": 1000}),
    ]
    assert await session_reader.field_types(custom_database, "latency") == {
        "note": "string",
        "p50_ms": "float",
        "passed": "boolean",
        "requests": "integer",
    }
    sent = datetime(2026, 11, 27, 23, tzinfo=UTC)
    assert {point.time_ns for point in points} == {int(sent.timestamp()) * 10**9}


@pytest.mark.parametrize(
    ("point", "where", "says"),
    [
        ({**perf_point(), "tags": {}}, "data[0].tags.host", "is required"),
        ({**perf_point(), "tags": {"host": "a", "rack": "b"}}, "data[0].tags.rack", "unknown key"),
        ({**perf_point(), "tags": {"host": 7}}, "data[0].tags.host", "must be a string"),
        (perf_point(requests=1.5), "data[0].fields.requests", "must be an integer"),
        (perf_point(requests="7"), "data[0].fields.requests", "must be an integer"),
        (perf_point(p50_ms="fast"), "data[0].fields.p50_ms", "must be a number"),
        (perf_point(passed="true"), "data[0].fields.passed", "must be true or false"),
        (perf_point(note=3), "data[0].fields.note", "must be a string"),
        (perf_point(cpu=3), "data[0].fields.cpu", "unknown field"),
        ({**perf_point(), "fields": {"requests": 3}}, "data[0].fields.p50_ms", "is required"),
        ({**perf_point(), "measurement": "memory"}, "data[0].measurement", "is not allowed"),
        ({**perf_point(), "extra": 1}, "data[0].extra", "unknown key"),
        ({k: v for k, v in perf_point().items() if k != "time"}, "data[0].time", "is required"),
    ],
    ids=[
        "missing required tag",
        "unknown tag",
        "number as tag",
        "float into int",
        "string into int",
        "string into float",
        "string into bool",
        "number into string",
        "unknown field",
        "missing required field",
        "measurement not listed",
        "unknown point key",
        "no time",
    ],
)
async def test_an_invalid_point_of_a_custom_kind_is_a_422_naming_it_and_nothing_is_stored(
    anonymous: httpx.AsyncClient,
    broker: httpx.AsyncClient,
    admin_token: str,
    session_reader: InfluxReader,
    custom_database: str,
    point: dict[str, Any],
    where: str,
    says: str,
) -> None:
    kind = await register(anonymous, admin_token, kind_definition(project=PROJECT, database=custom_database))

    response = await broker.post("/", json=envelope(kind, perf_point("fine"), point))

    assert response.status_code == 422, response.text
    messages = [detail["message"] for detail in response.json()["error"]["details"]]
    where = where.replace("data[0]", "data[1]")
    assert any(message.startswith(f"{where}: ") and says in message for message in messages), messages
    assert await session_reader.count(custom_database) == 0


async def test_a_custom_kind_publishes_a_json_schema_its_points_satisfy(
    anonymous: httpx.AsyncClient, broker: httpx.AsyncClient, admin_token: str, custom_database: str
) -> None:
    kind = await register(anonymous, admin_token, kind_definition(project=PROJECT, database=custom_database))

    response = await broker.get(f"/schemas/{kind}")
    stranger = await anonymous.get(f"/schemas/{kind}")
    unknown = await anonymous.get("/schemas/perf_nope")

    # TF-A's schemas are public; a custom kind's rules, and the list of custom kinds, are not
    assert stranger.status_code == 401, stranger.text
    assert "p50_ms" not in stranger.text
    assert unknown.status_code == 404, unknown.text
    assert kind not in unknown.text
    assert "tfa_code_churn" in unknown.json()["error"]["message"]

    assert response.status_code == 200, response.text
    schema = response.json()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(envelope(kind, perf_point(passed=False)), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(envelope(kind, perf_point(requests=1.5)), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(envelope(kind, {**perf_point(), "measurement": "memory"}), schema)


async def test_kinds_are_listed_and_shown_as_registered(
    anonymous: httpx.AsyncClient, broker: httpx.AsyncClient, admin_token: str, custom_database: str
) -> None:
    definition = kind_definition(project=PROJECT, database=custom_database)
    kind = await register(anonymous, admin_token, definition)

    listed = await broker.get("/api/v1/kinds")
    shown = await broker.get(f"/api/v1/kinds/{kind}")

    assert listed.status_code == 200, listed.text
    assert "tfa_code_churn" in listed.json()["builtin"]
    assert kind in [each["name"] for each in listed.json()["custom"]]
    assert shown.status_code == 200, shown.text
    assert {key: shown.json()[key] for key in definition} == {
        **definition,
        "tags": {"host": {"required": True}, "build": {"required": False}},
        # the defaults, spelled out
        "fields": {
            "p50_ms": {"type": "float", "required": True},
            "requests": {"type": "int", "required": True},
            "passed": {"type": "bool", "required": False},
            "note": {"type": "string", "required": False},
        },
    }
    assert shown.json()["created_by"]


async def test_deleting_a_kind_refuses_its_new_points_and_keeps_the_stored_ones(
    anonymous: httpx.AsyncClient,
    broker: httpx.AsyncClient,
    admin_token: str,
    session_reader: InfluxReader,
    custom_database: str,
) -> None:
    kind = await register(anonymous, admin_token, kind_definition(project=PROJECT, database=custom_database))
    assert (await broker.post("/", json=envelope(kind, perf_point()))).status_code == 204

    deleted = await anonymous.delete(f"/api/v1/kinds/{kind}", headers=admin(admin_token))
    after = await broker.post("/", json=envelope(kind, perf_point("later")))

    assert deleted.status_code == 204, deleted.text
    assert after.status_code == 422
    assert "is not a kind" in after.json()["error"]["message"]
    assert (await broker.get(f"/schemas/{kind}")).status_code == 404
    assert (await broker.get(f"/api/v1/kinds/{kind}")).status_code == 404
    assert (await anonymous.delete(f"/api/v1/kinds/{kind}", headers=admin(admin_token))).status_code == 404
    assert await session_reader.count(custom_database) == 1


async def test_tfa_kinds_cannot_be_redefined_or_deleted(
    anonymous: httpx.AsyncClient, broker: httpx.AsyncClient, admin_token: str, custom_database: str
) -> None:
    redefined = await anonymous.post(
        "/api/v1/kinds",
        json=kind_definition(project=PROJECT, database=custom_database, name="tfa_code_churn"),
        headers=admin(admin_token),
    )
    deleted = await anonymous.delete("/api/v1/kinds/tfa_code_churn", headers=admin(admin_token))

    assert redefined.status_code == 409, redefined.text
    assert "built-in" in redefined.json()["error"]["message"]
    assert deleted.status_code == 409, deleted.text
    assert (await broker.post("/", json=tfa_fixture("code_churn.json"))).status_code == 204


async def test_a_kind_name_is_registered_once(
    anonymous: httpx.AsyncClient, admin_token: str, custom_database: str
) -> None:
    definition = kind_definition(project=PROJECT, database=custom_database)
    await register(anonymous, admin_token, definition)

    again = await anonymous.post("/api/v1/kinds", json=definition, headers=admin(admin_token))

    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "conflict"


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"name": "Perf"}, "name"),
        ({"database": "tfa_code_churn"}, "database"),  # the family: this session's TF-A database
        ({"database": "bad name"}, "database"),
        ({"project": "team a"}, "project"),
        ({"measurements": []}, "measurements"),
        ({"measurements": ["a\nb"]}, "measurements"),
        ({"fields": {}}, "fields"),
        ({"fields": {"x": {"type": "decimal"}}}, "fields"),
        ({"tags": {"host": {"required": "yes", "colour": 1}}}, "tags"),
        ({"owner": "me"}, "owner"),
        ({"fields": {"time": {"type": "int"}}}, "fields"),
        ({"tags": {"p50_ms": {}}}, ""),
        ({"description": "nightly\x00run"}, "description"),
        ({"fields": {"p\x0050": {"type": "float"}}}, "fields"),
        ({"tags": {"host\x1b": {}}}, "tags"),
    ],
    ids=[
        "uppercase name",
        "TF-A's database",
        "database with a space",
        "project with a space",
        "no measurement",
        "line break in a measurement",
        "no field",
        "unknown field type",
        "bad tag rule",
        "unknown key",
        "field named time",
        "key both a tag and a field",
        "NUL in the description",
        "NUL in a field name",
        "escape in a tag name",
    ],
)
async def test_an_invalid_kind_definition_is_a_422_naming_what_is_wrong(
    anonymous: httpx.AsyncClient,
    admin_token: str,
    custom_database: str,
    databases: dict[str, str],
    changes: dict[str, Any],
    where: str,
) -> None:
    definition = {**kind_definition(project=PROJECT, database=custom_database), **changes}
    if definition["database"] in databases:
        definition["database"] = databases[definition["database"]]

    response = await anonymous.post("/api/v1/kinds", json=definition, headers=admin(admin_token))

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert any(
        detail["loc"][:2] == ["body", where] if where else detail["loc"] == ["body"]
        for detail in error["details"]
    ), error


async def test_only_an_admin_registers_or_deletes_kinds(
    anonymous: httpx.AsyncClient, broker: httpx.AsyncClient, admin_token: str, custom_database: str
) -> None:
    kind = await register(anonymous, admin_token, kind_definition(project=PROJECT, database=custom_database))

    created = await broker.post(
        "/api/v1/kinds", json=kind_definition(project=PROJECT, database=custom_database)
    )
    deleted = await broker.delete(f"/api/v1/kinds/{kind}")
    anonymous_list = await anonymous.get("/api/v1/kinds")

    assert created.status_code == 403, created.text
    assert "admin" in created.json()["error"]["message"]
    assert deleted.status_code == 403
    assert anonymous_list.status_code == 401
    assert (await broker.get(f"/api/v1/kinds/{kind}")).status_code == 200


async def test_without_postgresql_tfa_kinds_are_still_written_and_custom_kinds_get_a_503(
    settings: Settings, metrics_token: str, admin_token: str, reader: InfluxReader, databases: dict[str, str]
) -> None:
    no_database = changed(
        settings,
        database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/qahub",
        spool_timeout_seconds=1.0,
    )
    async with running_broker(no_database, metrics_token) as broker:
        tfa = await broker.post("/", json=tfa_fixture("code_churn.json"))
        custom = await broker.post("/", json=envelope("perf_latency", perf_point()))
        batch = await broker.post("/api/v1/points", json={"kind": "perf_latency", "points": [perf_point()]})
        keyed = await broker.post(
            "/api/v1/points",
            json={"kind": "tfa_code_churn", "points": tfa_fixture("code_churn.json")["data"]},
            headers={"Idempotency-Key": "k1"},
        )
        listed = await broker.get("/api/v1/kinds", headers=admin(admin_token))

    assert tfa.status_code == 204, tfa.text
    for unavailable in (custom, batch, keyed, listed):
        assert unavailable.status_code == 503, unavailable.text
        assert unavailable.headers["Retry-After"] == "5"
    # the keyed batch was refused before anything was written: only the TF-A payload is there
    assert await reader.count(databases["tfa_code_churn"]) == 1


async def test_another_broker_sharing_the_database_sees_kinds_created_and_deleted_within_its_refresh(
    anonymous: httpx.AsyncClient,
    settings: Settings,
    metrics_token: str,
    admin_token: str,
    session_reader: InfluxReader,
    custom_database: str,
) -> None:
    async with running_broker(changed(settings, kinds_refresh_seconds=1.0), metrics_token) as other:
        assert (await other.post("/", json=envelope("nothing_yet", perf_point()))).status_code == 422
        kind = await register(
            anonymous, admin_token, kind_definition(project=PROJECT, database=custom_database)
        )
        await asyncio.sleep(1.1)  # an unknown name reloads the kinds at most once a second
        created = await other.post("/", json=envelope(kind, perf_point()))
        deleted = await anonymous.delete(f"/api/v1/kinds/{kind}", headers=admin(admin_token))
        await asyncio.sleep(1.1)  # past the other broker's refresh
        after = await other.post("/", json=envelope(kind, perf_point("later")))

    assert created.status_code == 204, created.text
    assert deleted.status_code == 204
    assert after.status_code == 422, after.text
    assert await session_reader.count(custom_database) == 1


async def test_a_kind_without_required_time_stamps_its_points_with_the_moment_of_acceptance(
    anonymous: httpx.AsyncClient,
    broker: httpx.AsyncClient,
    admin_token: str,
    session_reader: InfluxReader,
    custom_database: str,
) -> None:
    kind = await register(
        anonymous,
        admin_token,
        kind_definition(project=PROJECT, database=custom_database, time_required=False),
    )
    untimed = {key: value for key, value in perf_point().items() if key != "time"}
    before = time.time_ns()

    response = await broker.post("/", json=envelope(kind, untimed, {**untimed, "tags": {"host": "runner-2"}}))

    assert response.status_code == 204, response.text
    stamps = {point.time_ns for point in await session_reader.points(custom_database, "latency")}
    assert len(stamps) == 1
    assert before <= stamps.pop() <= time.time_ns()


async def test_a_stored_definition_this_broker_cannot_read_is_skipped_and_the_others_still_work(
    anonymous: httpx.AsyncClient,
    broker: httpx.AsyncClient,
    admin_token: str,
    database_url: str,
    custom_database: str,
) -> None:
    kind = await register(anonymous, admin_token, kind_definition(project=PROJECT, database=custom_database))
    broken = f"broken_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "INSERT INTO metrics_broker.custom_kind (name, project, database, definition, created_by)"
            " VALUES ($1, 'team-a/x', 'Elsewhere', '{\"fields\": 3}', 'hand')",
            broken,
        )
    finally:
        await connection.close()

    listed = await broker.get("/api/v1/kinds")
    stored = await broker.post("/", json=envelope(kind, perf_point()))

    assert listed.status_code == 200, listed.text
    names = [each["name"] for each in listed.json()["custom"]]
    assert kind in names
    assert broken not in names
    assert stored.status_code == 204, stored.text


def test_the_kinds_a_message_lists_are_bounded_however_many_are_registered() -> None:
    many = {f"kind_{n}": KINDS["tfa_code_churn"] for n in range(45)}

    listed = kind_names(many)

    assert listed.startswith("kind_0, kind_1, ")
    assert "kind_29" in listed
    assert "kind_30" not in listed
    assert listed.endswith("(and 15 more: GET /api/v1/kinds)")


async def test_an_admin_restricted_to_projects_registers_and_deletes_kinds_only_there(
    anonymous: httpx.AsyncClient, identity: httpx.AsyncClient, admin_token: str, custom_database: str
) -> None:
    team_a = await restricted_token(identity, admin_token, ["team-a/*"], scopes=["admin"])
    theirs = await register(
        anonymous, admin_token, kind_definition(project="team-b/perf", database=custom_database)
    )
    elsewhere = kind_definition(project="team-b/other", database=custom_database)

    created_elsewhere = await anonymous.post("/api/v1/kinds", json=elsewhere, headers=admin(team_a))
    deleted_elsewhere = await anonymous.delete(f"/api/v1/kinds/{theirs}", headers=admin(team_a))
    own = await anonymous.post(
        "/api/v1/kinds",
        json=kind_definition(project=PROJECT, database=custom_database),
        headers=admin(team_a),
    )
    deleted_own = await anonymous.delete(f"/api/v1/kinds/{own.json()['name']}", headers=admin(team_a))

    for refused in (created_elsewhere, deleted_elsewhere):
        assert refused.status_code == 403, refused.text
        assert "team-a/*" in refused.json()["error"]["message"]
    assert (
        await anonymous.get(f"/api/v1/kinds/{elsewhere['name']}", headers=admin(admin_token))
    ).status_code == 404
    assert (await anonymous.get(f"/api/v1/kinds/{theirs}", headers=admin(admin_token))).status_code == 200
    assert own.status_code == 201, own.text
    assert deleted_own.status_code == 204
