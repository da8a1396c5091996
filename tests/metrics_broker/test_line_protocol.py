"""`line_protocol.encode`: nasty names and values are escaped so InfluxDB stores them exactly as given,
and what cannot be written is refused rather than mangled."""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator

import pytest

from metrics_broker.influx.line_protocol import MetricPoint, UnwritablePoint, encode, unwritable
from tests.metrics_broker.influx import InfluxReader

NASTY_NAMES = [
    "plain",
    "with space",
    "with,comma",
    "with=equals",
    "all of , = at once",
    "back\\slash inside",
    "two\\\\backslashes",
    'double"quote',
    "single'quote",
    "unicodé ✓ 日本",
    " leading and trailing ",
    "=starts with equals",
]
NASTY_STRINGS = [
    "",
    "plain",
    'say "hi"',
    "back\\slash",
    "ends with backslash\\",
    '\\"',
    "tab\there",
    "comma, space = equals",
    "unicodé ✓",
]


def test_integers_are_integer_fields_floats_are_floats_strings_are_quoted() -> None:
    point = MetricPoint("m", {}, {"i": 12, "f": 12.0, "s": "twelve", "b": True, "neg": -3}, 5)
    assert encode(point) == 'm i=12i,f=12.0,s="twelve",b=true,neg=-3i 5'


def test_tags_are_sorted_and_escaped() -> None:
    point = MetricPoint("my meas,ure", {"z": "1", "a key": "a,b=c d"}, {"f=x": 1}, 7)
    assert encode(point) == r"my\ meas\,ure,a\ key=a\,b\=c\ d,z=1 f\=x=1i 7"


def test_string_fields_escape_quotes_and_backslashes() -> None:
    point = MetricPoint("m", {}, {"s": 'a "quoted" \\ path\\'}, 1)
    assert encode(point) == r'm s="a \"quoted\" \\ path\\" 1'


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("line\nbreak", "line break"),
        ("carriage\rreturn", "line break"),
        ("ends with\\", "end with a backslash"),
        ("escape\\ before space", "backslash just before"),
        ("escape\\,before comma", "backslash just before"),
        ("escape\\=before equals", "backslash just before"),
        ("", "empty"),
    ],
)
def test_names_and_tag_values_that_line_protocol_cannot_carry_are_refused(text: str, reason: str) -> None:
    found = unwritable(text)
    assert found is not None
    assert reason in found
    with pytest.raises(UnwritablePoint):
        encode(MetricPoint("m", {"t": text}, {"f": 1}, 1))
    with pytest.raises(UnwritablePoint):
        encode(MetricPoint("m", {}, {text: 1}, 1))


def test_a_measurement_starting_with_a_hash_is_refused_because_influxdb_would_skip_it_as_a_comment() -> None:
    assert unwritable("#comment", measurement=True) is not None
    assert unwritable("#fine as a tag") is None
    with pytest.raises(UnwritablePoint, match="#"):
        encode(MetricPoint("#m", {}, {"f": 1}, 1))


def test_line_breaks_in_string_fields_are_refused() -> None:
    with pytest.raises(UnwritablePoint, match="line break"):
        encode(MetricPoint("m", {}, {"s": "two\nlines"}, 1))


@pytest.mark.parametrize(
    "fields",
    [{}, {"f": math.nan}, {"f": math.inf}, {"f": 2**63}, {"f": -(2**63) - 1}],
)
def test_points_influxdb_cannot_store_are_refused(fields: dict[str, float]) -> None:
    with pytest.raises(UnwritablePoint):
        encode(MetricPoint("m", {}, fields, 1))


def test_timestamps_outside_influxdb_range_are_refused() -> None:
    with pytest.raises(UnwritablePoint, match="range"):
        encode(MetricPoint("m", {}, {"f": 1}, 2**63 - 1))


@pytest.fixture
async def scratch(influx_url: str) -> AsyncIterator[tuple[InfluxReader, str]]:
    reader = InfluxReader(influx_url)
    name = f"lp_{uuid.uuid4().hex[:8]}"
    await reader.execute(f'CREATE DATABASE "{name}"')
    yield reader, name
    await reader.execute(f'DROP DATABASE "{name}"')
    await reader.aclose()


async def write(reader: InfluxReader, database: str, lines: list[str]) -> None:
    response = await reader.client.post(
        "/write", params={"db": database, "precision": "ns"}, content="\n".join(lines).encode()
    )
    assert response.status_code == 204, response.text


async def test_nasty_measurements_tags_and_field_keys_round_trip_through_influxdb(
    scratch: tuple[InfluxReader, str],
) -> None:
    reader, database = scratch
    points = [
        MetricPoint(name, {"tag " + name: name, "fixed": "x"}, {"field " + name: index}, 1000 + index)
        for index, name in enumerate(NASTY_NAMES)
    ]
    await write(reader, database, [encode(point) for point in points])

    for point in points:
        [stored] = await reader.points(database, point.measurement)
        assert stored.tags == point.tags
        assert stored.fields == point.fields
        assert stored.time_ns == point.time_ns


async def test_nasty_string_fields_and_exact_floats_round_trip_through_influxdb(
    scratch: tuple[InfluxReader, str],
) -> None:
    reader, database = scratch
    floats = [0.1, 1e300, -2.5e-300, 123456789.123456789, 1.0]
    points = [MetricPoint("strings", {"i": str(i)}, {"s": text}, 1) for i, text in enumerate(NASTY_STRINGS)]
    points += [MetricPoint("floats", {"i": str(i)}, {"x": value}, 1) for i, value in enumerate(floats)]
    points.append(MetricPoint("ints", {}, {"max": 2**63 - 1, "min": -(2**63), "zero": 0}, 1))
    await write(reader, database, [encode(point) for point in points])

    strings = {p.tags["i"]: p.fields["s"] for p in await reader.points(database, "strings")}
    assert strings == {str(i): text for i, text in enumerate(NASTY_STRINGS)}
    stored_floats = {p.tags["i"]: p.fields["x"] for p in await reader.points(database, "floats")}
    assert stored_floats == {str(i): value for i, value in enumerate(floats)}
    assert await reader.field_types(database, "floats") == {"x": "float"}
    [ints] = await reader.points(database, "ints")
    assert ints.fields == {"max": 2**63 - 1, "min": -(2**63), "zero": 0}
    assert await reader.field_types(database, "ints") == {
        "max": "integer",
        "min": "integer",
        "zero": "integer",
    }
