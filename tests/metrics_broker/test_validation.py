"""Every rule a payload must follow has a case that breaks it. Each answer is a 422 in the one error
envelope naming the point and the field, and nothing of the payload is stored, not even its valid points.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from tests.metrics_broker.influx import InfluxReader
from tests.metrics_broker.test_tfa_round_trip import tfm_payload

Payload = dict[str, Any]


def churn() -> Payload:
    point: dict[str, Any] = {
        "measurement": "TFA_CodeChurn_Tracking",
        "fields": {"Lines_of_Change": 34193},
        "tags": {"Git_Tag_Date": 20201117, "Base_Tag": "v2.3", "Target_Tag": "v2.4"},
        "time": "2020-11-17 16:43:51 +0000",
    }
    second = copy.deepcopy(point)
    second["tags"]["Target_Tag"] = "v2.5"
    return {"api_version": "1.0", "metadata": {"metrics": "tfa_code_churn"}, "data": [point, second]}


def of_kind(kind: str, tags: dict[str, Any], fields: dict[str, Any]) -> Payload:
    body = churn()
    body["metadata"]["metrics"] = kind
    for point in body["data"]:
        point["measurement"] = "m"
        point["tags"] = copy.deepcopy(tags)
        point["fields"] = copy.deepcopy(fields)
    body["data"][1]["time"] = "2020-11-18 16:43:51 +0000"
    return body


def complexity() -> Payload:
    fields = {"Functions_Exceeding_Threshold_Not_Whitelisted": 1, "Whitelisted": "no", "Threshold": 11}
    return of_kind("tfa_complexity_tracking", {"Git_Tag_Date": 20201117, "Target_Tag": "v2.4"}, fields)


def image_size() -> Payload:
    tags = {"BinMode": "Debug", "CommitID": "ed39d5e3c0", "CommitTitle": "t"}
    return of_kind("tfa_image_size", tags, {"BL31_B": 1, "BL2U_T": 2})


def rtinstr() -> Payload:
    tags = {"CommitID": "c", "CommitTitle": "t", "TC_Name": "n", "Cluster_ID": 0, "CPU_Core": 0}
    return of_kind("tfa_rtinstr", tags, {"Latency_EL3Entry_EL3Exit": 5})


def second(edit: Callable[[dict[str, Any]], object], make: Callable[[], Payload] = churn) -> Payload:
    """A payload whose first point is valid and whose second (`data[1]`) is broken by `edit`."""
    body = make()
    edit(body["data"][1])
    return body


def whole(edit: Callable[[Payload], object], make: Callable[[], Payload] = churn) -> Payload:
    body = make()
    edit(body)
    return body


def tfm(edit: Callable[[Payload], object]) -> Payload:
    body = tfm_payload()
    edit(body)
    return body


CASES: list[tuple[str, Payload, list[str | int], str]] = [
    # the envelope
    ("body is not an object", [churn()["data"][0]], ["body"], "must be a JSON object"),  # type: ignore[list-item]
    ("unknown top-level key", whole(lambda b: b.update(extra=1)), ["body", "extra"], "unknown key"),
    ("no api_version", whole(lambda b: b.pop("api_version")), ["body", "api_version"], "is required"),
    (
        "unsupported api_version",
        whole(lambda b: b.update(api_version="2.0")),
        ["body", "api_version"],
        "'2.0' is not supported",
    ),
    ("no metadata", whole(lambda b: b.pop("metadata")), ["body", "metadata"], "is required"),
    (
        "metadata not an object",
        whole(lambda b: b.update(metadata="x")),
        ["body", "metadata"],
        "must be an object",
    ),
    (
        "no kind",
        whole(lambda b: b["metadata"].pop("metrics")),
        ["body", "metadata", "metrics"],
        "is required",
    ),
    (
        "unknown kind",
        whole(lambda b: b["metadata"].update(metrics="tfa_nope")),
        ["body", "metadata", "metrics"],
        "'tfa_nope' is not a kind",
    ),
    (
        "unknown metadata key",
        whole(lambda b: b["metadata"].update(team="x")),
        ["body", "metadata", "team"],
        "unknown key",
    ),
    ("no data", whole(lambda b: b.pop("data")), ["body", "data"], "is required"),
    ("data not an array", whole(lambda b: b.update(data={})), ["body", "data"], "must be an array"),
    ("empty data", whole(lambda b: b.update(data=[])), ["body", "data"], "at least one point"),
    (
        "too many points",
        whole(lambda b: b.update(data=b["data"] * 501)),
        ["body", "data"],
        "at most 1000 per request",
    ),
    # a point
    (
        "point not an object",
        second(lambda p: p.clear()) | {"data": [churn()["data"][0], 5]},
        ["body", "data", 1],
        "must be an object",
    ),
    ("unknown point key", second(lambda p: p.update(extra=1)), ["body", "data", 1, "extra"], "unknown key"),
    (
        "no measurement",
        second(lambda p: p.pop("measurement")),
        ["body", "data", 1, "measurement"],
        "is required",
    ),
    ("no tags", second(lambda p: p.pop("tags")), ["body", "data", 1, "tags"], "is required"),
    ("no fields", second(lambda p: p.pop("fields")), ["body", "data", 1, "fields"], "is required"),
    (
        "no time where TF-A requires it",
        second(lambda p: p.pop("time")),
        ["body", "data", 1, "time"],
        "is required",
    ),
    (
        "measurement not a string",
        second(lambda p: p.update(measurement=5)),
        ["body", "data", 1, "measurement"],
        "must be a string",
    ),
    (
        "measurement with a line break",
        second(lambda p: p.update(measurement="a\nb")),
        ["body", "data", 1, "measurement"],
        "line break",
    ),
    (
        "measurement starting with #",
        second(lambda p: p.update(measurement="#x")),
        ["body", "data", 1, "measurement"],
        "start with '#'",
    ),
    (
        "measurement too long",
        second(lambda p: p.update(measurement="m" * 257)),
        ["body", "data", 1, "measurement"],
        "longer than 256",
    ),
    # tags
    (
        "tags not an object",
        second(lambda p: p.update(tags=[])),
        ["body", "data", 1, "tags"],
        "must be an object",
    ),
    (
        "unknown tag",
        second(lambda p: p["tags"].update(Team="x")),
        ["body", "data", 1, "tags", "Team"],
        "unknown key",
    ),
    (
        "missing tag",
        second(lambda p: p["tags"].pop("Base_Tag")),
        ["body", "data", 1, "tags", "Base_Tag"],
        "is required",
    ),
    (
        "string for a number tag",
        second(lambda p: p["tags"].update(Git_Tag_Date="20201117")),
        ["body", "data", 1, "tags", "Git_Tag_Date"],
        "must be a number",
    ),
    (
        "boolean for a number tag",
        second(lambda p: p["tags"].update(Git_Tag_Date=True)),
        ["body", "data", 1, "tags", "Git_Tag_Date"],
        "must be a number",
    ),
    (
        "number for a string tag",
        second(lambda p: p["tags"].update(Base_Tag=2.3)),
        ["body", "data", 1, "tags", "Base_Tag"],
        "must be a string",
    ),
    (
        "tag value with a line break",
        second(lambda p: p["tags"].update(Base_Tag="v\n2")),
        ["body", "data", 1, "tags", "Base_Tag"],
        "line break",
    ),
    (
        "tag value ending with a backslash",
        second(lambda p: p["tags"].update(Base_Tag="v2\\")),
        ["body", "data", 1, "tags", "Base_Tag"],
        "backslash",
    ),
    (
        "tag value too long",
        second(lambda p: p["tags"].update(Base_Tag="v" * 1025)),
        ["body", "data", 1, "tags", "Base_Tag"],
        "longer than 1024",
    ),
    (
        "object for an untyped tag",
        second(
            lambda p: p["tags"].update(Measured_Date={}),
            lambda: of_kind(
                "tfa_defects_tracking",
                {"Measured_Date": "d"},
                {"Issue_Status": "Open", "Number_of_Defects": 1},
            ),
        ),
        ["body", "data", 1, "tags", "Measured_Date"],
        "must be a number",
    ),
    # fields
    (
        "fields not an object",
        second(lambda p: p.update(fields=5)),
        ["body", "data", 1, "fields"],
        "must be an object",
    ),
    (
        "missing field",
        second(lambda p: p["fields"].clear()),
        ["body", "data", 1, "fields", "Lines_of_Change"],
        "is required",
    ),
    (
        "unknown field",
        second(lambda p: p["fields"].update(Lines=1)),
        ["body", "data", 1, "fields", "Lines"],
        "unknown field",
    ),
    (
        "string for a number field",
        second(lambda p: p["fields"].update(Lines_of_Change="12")),
        ["body", "data", 1, "fields", "Lines_of_Change"],
        "must be a number",
    ),
    (
        "boolean for a number field",
        second(lambda p: p["fields"].update(Lines_of_Change=False)),
        ["body", "data", 1, "fields", "Lines_of_Change"],
        "must be a number",
    ),
    (
        "integer beyond 64 bits",
        second(lambda p: p["fields"].update(Lines_of_Change=2**64)),
        ["body", "data", 1, "fields", "Lines_of_Change"],
        "64-bit",
    ),
    (
        "number for a string field",
        second(lambda p: p["fields"].update(Whitelisted=0), complexity),
        ["body", "data", 1, "fields", "Whitelisted"],
        "must be a string",
    ),
    (
        "string field with a line break",
        second(lambda p: p["fields"].update(Whitelisted="n\no"), complexity),
        ["body", "data", 1, "fields", "Whitelisted"],
        "line break",
    ),
    (
        "string field too long",
        second(lambda p: p["fields"].update(Whitelisted="n" * 65537), complexity),
        ["body", "data", 1, "fields", "Whitelisted"],
        "longer than 65536",
    ),
    (
        "image size that is not an integer",
        second(lambda p: p["fields"].update(BL31_B=1.5), image_size),
        ["body", "data", 1, "fields", "BL31_B"],
        "must be an integer",
    ),
    (
        "image size field not named BLx_S",
        second(lambda p: p["fields"].update(bl31_b=1), image_size),
        ["body", "data", 1, "fields", "bl31_b"],
        "unknown field",
    ),
    (
        "image size without fields",
        second(lambda p: p["fields"].clear(), image_size),
        ["body", "data", 1, "fields"],
        "at least one field",
    ),
    (
        "rtinstr with both sets of fields",
        second(
            lambda p: p["fields"].update(
                Latency_EL3Entry_CPUPowerDown=1, Latency_CPUWakeup_EL3Exit=1, CacheFlush=1
            ),
            rtinstr,
        ),
        ["body", "data", 1, "fields"],
        "exactly one of these sets",
    ),
    (
        "rtinstr with half a set",
        second(lambda p: p.update(fields={"CacheFlush": 1}), rtinstr),
        ["body", "data", 1, "fields"],
        "exactly one of these sets",
    ),
    (
        "image size with more than 1000 fields",
        second(
            lambda p: p.update(fields={f"BL{n // 26}{chr(65 + n % 26)}_T": 1 for n in range(1001)}),
            image_size,
        ),
        ["body", "data", 1, "fields"],
        "at most 1000",
    ),
    # time
    (
        "time that is not a date",
        second(lambda p: p.update(time="last tuesday")),
        ["body", "data", 1, "time"],
        "is not a date-time",
    ),
    (
        "time in seconds",
        second(lambda p: p.update(time=1605631431)),
        ["body", "data", 1, "time"],
        "probably in seconds",
    ),
    # tfm_image_size
    (
        "tfm without a commit id",
        tfm(lambda b: b["metadata"]["git_info"].pop("commit_id")),
        ["body", "metadata", "git_info", "commit_id"],
        "is required",
    ),
    (
        "tfm with an unknown build key",
        tfm(lambda b: b["metadata"]["build_info"].update(board="x")),
        ["body", "metadata", "build_info", "board"],
        "unknown key",
    ),
    (
        "tfm without data_producer",
        tfm(lambda b: b["metadata"].pop("data_producer")),
        ["body", "metadata", "data_producer"],
        "is required",
    ),
    (
        "tfm with a bad commit time",
        tfm(lambda b: b["metadata"]["git_info"].update(commit_time="soon")),
        ["body", "metadata", "git_info", "commit_time"],
        "is not a date-time",
    ),
    (
        "tfm with two files of one name",
        tfm(lambda b: b["data"].append({"file": "bl2.elf", "bss": 1, "data": 1, "text": 1})),
        ["body", "data", 2, "file"],
        "would collide",
    ),
    (
        "image size field key with a trailing newline",
        second(lambda p: p["fields"].update({"BL31_T\n": 1}), image_size),
        ["body", "data", 1, "fields", "BL31_T\n"],
        "unknown field",
    ),
    (
        "tfm with a float size",
        tfm(lambda b: b["data"][1].update(text=1.5)),
        ["body", "data", 1, "text"],
        "must be an integer",
    ),
    (
        "tfm git_info not an object",
        tfm(lambda b: b["metadata"].update(git_info="main")),
        ["body", "metadata", "git_info"],
        "must be an object",
    ),
    (
        "tfm build_info not an object",
        tfm(lambda b: b["metadata"].update(build_info=[])),
        ["body", "metadata", "build_info"],
        "must be an object",
    ),
    (
        "tfm item not an object",
        tfm(lambda b: b["data"].append("bl2.axf")),
        ["body", "data", 2],
        "must be an object",
    ),
    (
        "tfm file not a string",
        tfm(lambda b: b["data"][0].update(file=7)),
        ["body", "data", 0, "file"],
        "non-empty string",
    ),
    (
        "tfm with an unknown item key",
        tfm(lambda b: b["data"][0].update(rodata=1)),
        ["body", "data", 0, "rodata"],
        "unknown key",
    ),
]


def dotted(loc: list[str | int]) -> str:
    text = ""
    for part in loc[1:]:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "body"


@pytest.mark.parametrize(
    ("body", "loc", "message"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
async def test_each_broken_rule_is_a_422_naming_where_and_nothing_is_stored(
    broker: httpx.AsyncClient,
    reader: InfluxReader,
    databases: dict[str, str],
    body: Payload,
    loc: list[str | int],
    message: str,
) -> None:
    response = await broker.post("/", json=body)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    found = [detail for detail in error["details"] if detail["loc"] == loc]
    assert found, error["details"]
    assert message in found[0]["message"]
    assert found[0]["message"].startswith(dotted(loc) + ": ")
    assert error["message"].startswith(error["details"][0]["message"])
    for database in databases.values():
        assert await reader.count(database) == 0


async def test_every_problem_of_a_payload_is_reported_at_once(broker: httpx.AsyncClient) -> None:
    body = churn()
    body["data"][0]["tags"]["Base_Tag"] = 1
    body["data"][1]["fields"]["Lines_of_Change"] = "many"
    body["data"][1]["time"] = "never"

    response = await broker.post("/", json=body)

    assert response.status_code == 422
    error = response.json()["error"]
    assert [detail["loc"] for detail in error["details"]] == [
        ["body", "data", 0, "tags", "Base_Tag"],
        ["body", "data", 1, "fields", "Lines_of_Change"],
        ["body", "data", 1, "time"],
    ]
    assert "(and 2 more problem(s))" in error["message"]


async def test_the_problems_listed_are_capped(broker: httpx.AsyncClient) -> None:
    body = churn()
    body["data"] = [{"measurement": 1}] * 500

    response = await broker.post("/", json=body)

    assert response.status_code == 422
    error = response.json()["error"]
    assert len(error["details"]) == 100
    assert "Only the first problems are listed." in error["message"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The body is empty"),
        (b"   ", "The body is empty"),
        (b"{not json", "The body is not valid JSON"),
        (b'{"api_version": NaN}', "The body is not valid JSON: NaN is not a number JSON allows"),
        (b"\xff\xfe{}", "The body is not valid JSON"),
        (b"[" * 100_000, "The body nests arrays and objects more than 32 levels deep"),
    ],
    ids=["empty", "blank", "malformed", "nan", "not utf-8", "nested too deep"],
)
async def test_a_body_that_is_not_json_is_a_422_in_the_envelope_not_an_error_page(
    broker: httpx.AsyncClient, content: bytes, message: str
) -> None:
    response = await broker.post("/", content=content, headers={"Content-Type": "application/json"})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["message"].startswith(message)
    assert error["details"][0]["loc"] == ["body"]


async def test_a_streamed_body_over_the_size_limit_is_a_413_not_an_error(
    broker: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"api_version": "1.0", "metadata": {"metrics": "tfa_code_churn"}, "data": "'
        for _ in range(8):
            yield b"x" * 64 * 1024
        yield b'"}'

    with caplog.at_level(logging.ERROR):
        response = await broker.post("/", content=chunks(), headers={"Content-Type": "application/json"})

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_a_body_over_the_size_limit_is_a_413_and_nothing_is_stored(
    broker: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str]
) -> None:
    body = churn()
    body["data"][0]["fields"]["Lines_of_Change"] = 1
    body["padding"] = "x" * (256 * 1024)

    response = await broker.post("/", json=body)

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert await reader.count(databases["tfa_code_churn"]) == 0


async def test_defect_kinds_need_no_time(
    broker: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str]
) -> None:
    body = of_kind(
        "tfa_defects_tracking", {"Measured_Date": "d"}, {"Issue_Status": "Open", "Number_of_Defects": 1}
    )
    for point in body["data"]:
        point.pop("time")
    body["data"][1]["tags"]["Measured_Date"] = 20261122

    response = await broker.post("/", json=body)

    assert response.status_code == 204, response.text
    assert await reader.count(databases["tfa_defects"]) == 2


async def test_an_empty_tag_value_is_left_out_as_tfa_did(
    broker: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str]
) -> None:
    body = churn()
    body["data"] = body["data"][:1]
    body["data"][0]["tags"]["Base_Tag"] = ""

    response = await broker.post("/", json=body)

    assert response.status_code == 204, response.text
    [point] = await reader.points(databases["tfa_code_churn"], "TFA_CodeChurn_Tracking")
    assert point.tags == {"Git_Tag_Date": "20201117", "Target_Tag": "v2.4"}


def raw(body: Payload) -> bytes:
    """The body as JSON with non-ASCII escaped: how a lone surrogate (`"\\ud800"`) travels."""
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("edit", "loc", "message"),
    [
        (
            lambda b: b["data"][1]["tags"].update(Target_Tag="v\ud8002.4"),
            ["body", "data", 1, "tags", "Target_Tag"],
            "lone surrogate (U+D800)",
        ),
        (
            lambda b: b["data"][1]["fields"].update(Whitelisted="n\x00o"),
            ["body", "data", 1, "fields", "Whitelisted"],
            "control character (U+0000)",
        ),
        (
            lambda b: b["data"][1].update(measurement="m\x1b"),
            ["body", "data", 1, "measurement"],
            "control character (U+001B)",
        ),
    ],
    ids=["surrogate in a tag value", "NUL in a string field", "escape in a measurement"],
)
async def test_a_text_utf8_or_postgresql_cannot_carry_is_a_422_naming_it_and_neighbours_are_stored(
    broker: httpx.AsyncClient,
    reader: InfluxReader,
    databases: dict[str, str],
    edit: Callable[[Payload], object],
    loc: list[str | int],
    message: str,
) -> None:
    database = databases["tfa_complexity"]
    bad = complexity()
    edit(bad)
    good = complexity()
    for point in good["data"]:
        point["tags"]["Target_Tag"] = "neighbour"

    refused, stored = await asyncio.gather(
        broker.post("/", content=raw(bad), headers={"Content-Type": "application/json"}),
        broker.post("/", json=good),
    )

    assert refused.status_code == 422, refused.text
    details = refused.json()["error"]["details"]
    assert [detail["loc"] for detail in details] == [loc]
    assert message in details[0]["message"]
    assert stored.status_code == 204, stored.text
    points = await reader.points(database, "m")
    assert {point.tags["Target_Tag"] for point in points} == {"neighbour"}


async def test_a_tab_in_a_tag_value_is_still_stored(broker: httpx.AsyncClient) -> None:
    body = churn()
    body["data"][0]["tags"]["Base_Tag"] = "v2.3\tfinal"

    assert (await broker.post("/", json=body)).status_code == 204


@pytest.mark.parametrize("depth", [33, 950])
async def test_json_nested_deeper_than_the_limit_is_a_422_not_a_500(
    broker: httpx.AsyncClient, depth: int
) -> None:
    nested = "[" * depth + "]" * depth
    body = f'{{"api_version": "1.0", "metadata": {{"metrics": {nested}}}, "data": []}}'.encode()

    response = await broker.post("/", content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["details"] == [
        {
            "loc": ["body"],
            "message": "The body nests arrays and objects more than 32 levels deep",
            "type": "too_deep",
        }
    ]


async def test_a_tfa_payload_nested_to_the_limit_is_still_checked(broker: httpx.AsyncClient) -> None:
    body = churn()
    body["data"][1]["tags"]["Base_Tag"] = json.loads("[" * 28 + "]" * 28)  # 4 levels above it: 32 in all

    response = await broker.post("/", json=body)

    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["loc"] == ["body", "data", 1, "tags", "Base_Tag"]


@pytest.mark.parametrize(
    ("version", "shown"),
    [("9" * 100_000, "'" + "9" * 64 + "'..."), ({"major": [1, 0]}, "an object"), (1.0, "a number")],
    ids=["a huge string", "an object", "a number"],
)
async def test_a_wrong_value_is_described_briefly_never_echoed_whole(
    broker: httpx.AsyncClient, version: object, shown: str
) -> None:
    body = whole(lambda b: b.update(api_version=version))
    body["metadata"]["metrics"] = version

    response = await broker.post("/", json=body)

    assert response.status_code == 422
    assert len(response.content) < 4096
    messages = [detail["message"] for detail in response.json()["error"]["details"]]
    assert messages[0].startswith(f"api_version: {shown} is not supported")
    assert messages[1].startswith(f"metadata.metrics: {shown} is not a kind")


async def test_an_unknown_key_is_named_briefly_never_echoed_whole(broker: httpx.AsyncClient) -> None:
    body = whole(lambda b: b.update({"k" * 100_000: 1}))

    response = await broker.post("/", json=body)

    assert response.status_code == 422
    assert len(response.content) < 4096
    (detail,) = response.json()["error"]["details"]
    assert detail["loc"] == ["body", "k" * 64 + "..."]
    assert detail["type"] == "extra_forbidden"
