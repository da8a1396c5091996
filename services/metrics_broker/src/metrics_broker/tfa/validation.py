"""A TF-A payload, checked in full and turned into the points to store, or every problem with it.

Each problem names where it is, as `loc` (`["body", "data", 3, "tags", "Base_Tag"]`) and in its message
(`data[3].tags.Base_Tag: ...`), so a generator's author can find it. The first `MAX_PROBLEMS` are
reported. Nothing of a payload is stored unless all of it is valid.

What is stored, as TF-A's broker (influxdb-python) stored it: measurement and keys as sent; tag values
as strings (`20201117` → `"20201117"`), an empty tag value left out (InfluxDB cannot store one); fields
with their JSON type (integer, float, string); a point without `time` at the moment the payload was
accepted, the same for every point of it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from metrics_broker.influx.line_protocol import MAX_INT64, MIN_INT64, FieldValue, MetricPoint, unwritable
from metrics_broker.tfa.kinds import (
    KINDS,
    TFM_BUILD_TAGS,
    TFM_GIT_REQUIRED,
    TFM_GIT_TAGS,
    TFM_MEASUREMENT,
    TFM_SIZES,
    Kind,
    PointShape,
    ValueType,
)
from metrics_broker.tfa.timestamps import BadTime, parse_time
from qahub_shared.errors import ErrorDetail, InvalidInput

API_VERSIONS = ("1.0",)
MAX_PROBLEMS = 100
MAX_NAME_CHARS = 256
MAX_TAG_VALUE_CHARS = 1024
MAX_STRING_FIELD_CHARS = 64 * 1024
MAX_FIELDS = 1000
# TF-A's payloads nest 4 deep; far deeper JSON only makes messages and checks recurse toward Python's limit
MAX_DEPTH = 32
_SHOWN_CHARS = 64

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Accepted:
    """A valid payload: its kind, the database family it goes to, and its points."""

    kind: Kind
    points: list[MetricPoint]


class _TooManyProblems(Exception):
    pass


class _Problems:
    def __init__(self) -> None:
        self.details: list[ErrorDetail] = []

    def add(self, loc: Loc, message: str, kind: str = "invalid") -> None:
        # a key the client made up may be megabytes long: named, not echoed whole
        loc = tuple(_shortened(part) for part in loc)
        where = _where(loc)
        self.details.append(ErrorDetail(loc=["body", *loc], message=f"{where}: {message}", type=kind))
        if len(self.details) >= MAX_PROBLEMS:
            raise _TooManyProblems

    def raise_if_any(self) -> None:
        if self.details:
            raise _invalid(self.details)


def _shortened(part: str | int) -> str | int:
    if isinstance(part, int) or len(part) <= _SHOWN_CHARS:
        return part
    return part[:_SHOWN_CHARS] + "..."


def _where(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


def _invalid(details: list[ErrorDetail]) -> InvalidInput:
    more = f" (and {len(details) - 1} more problem(s))" if len(details) > 1 else ""
    capped = " Only the first problems are listed." if len(details) >= MAX_PROBLEMS else ""
    return InvalidInput(f"{details[0].message}{more}.{capped}", details=details)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _too_deep(value: dict[str, Any] | list[Any], depth: int = 1) -> bool:
    """Whether containers nest deeper than `MAX_DEPTH`. Recursive, but it stops at `MAX_DEPTH` + 1 frames;
    faster than a stack of its own (a 10,000-point payload takes a few milliseconds)."""
    if depth > MAX_DEPTH:
        return True
    for child in value.values() if isinstance(value, dict) else value:
        if isinstance(child, dict | list) and _too_deep(child, depth + 1):
            return True
    return False


def _shown(value: object) -> str:
    """A value for a message: a string truncated then quoted, anything else by its JSON type (a value
    may be megabytes long, or nested deep enough to exhaust `repr`)."""
    if isinstance(value, str):
        return repr(value[:_SHOWN_CHARS]) + ("..." if len(value) > _SHOWN_CHARS else "")
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return "null"


# Past this size, parsing and checking take long enough (milliseconds per 100 KiB) to stall every other
# request on the event loop: they run in a worker thread instead.
OFFLOAD_BYTES = 128 * 1024


def parse_json(body: bytes) -> object:
    """The request body as JSON; 422 when it is not (never the server's own error page), or when it
    nests deeper than `MAX_DEPTH`."""
    if not body.strip():
        raise InvalidInput(
            "The body is empty; send the metrics as JSON.",
            details=[ErrorDetail(loc=["body"], message="empty body", type="json_invalid")],
        )
    too_deep = f"The body nests arrays and objects more than {MAX_DEPTH} levels deep"
    try:
        payload = json.loads(body, parse_constant=_refuse_constant)
    except RecursionError:
        payload = None  # deeper still than MAX_DEPTH
    except ValueError as exc:
        message = f"The body is not valid JSON: {exc}"[:300]
        raise InvalidInput(
            message, details=[ErrorDetail(loc=["body"], message=message, type="json_invalid")]
        ) from None
    if payload is None or (isinstance(payload, dict | list) and _too_deep(payload)):
        raise InvalidInput(
            too_deep + ".", details=[ErrorDetail(loc=["body"], message=too_deep, type="too_deep")]
        )
    return payload


def kind_names(kinds: Mapping[str, Kind], *, most: int = 30) -> str:
    """The kinds, for a message: bounded, however many custom kinds are registered."""
    names = list(kinds)
    more = f" (and {len(names) - most} more: GET /api/v1/kinds)" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def kind_named(payload: object, key: str = "metadata") -> str | None:
    """The kind a payload names (`metadata.metrics`, or `kind` with `key="kind"`), before validation:
    which kinds to validate it against, and whether the caller may write it."""
    if not isinstance(payload, dict):
        return None
    if key == "kind":
        name = payload.get("kind")
    else:
        metadata = payload.get("metadata")
        name = metadata.get("metrics") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) else None


def validate(
    payload: object, *, kinds: Mapping[str, Kind] = KINDS, max_points: int, accepted_at_ns: int
) -> Accepted:
    """Check a TF-A payload (`{"api_version", "metadata": {"metrics": kind, ...}, "data": [...]}`)
    against `kinds` (TF-A's and the custom kinds registered); raise `InvalidInput` with every problem
    found (up to `MAX_PROBLEMS`)."""
    problems = _Problems()
    kind: Kind | None = None
    points: list[MetricPoint] = []
    try:
        kind = _envelope(payload, problems, max_points, kinds)
        if kind is not None and isinstance(payload, dict):
            if kind.shape is None:
                points = _tfm_image_size(payload, problems)
            else:
                points = _points(payload["data"], kind.shape, "data", problems, accepted_at_ns)
    except _TooManyProblems:
        pass
    problems.raise_if_any()
    if kind is None:  # pragma: no cover  (no kind means a problem was reported)
        raise _invalid([ErrorDetail(loc=["body"], message="body: not a TF-A payload")])
    return Accepted(kind=kind, points=points)


def _points(
    items: list[Any], shape: PointShape, key: str, problems: _Problems, accepted_at_ns: int
) -> list[MetricPoint]:
    """The valid points of `items` (the body's `key` list), each problem reported at `key[index]`."""
    points = []
    for index, item in enumerate(items):
        point = _point(item, shape, (key, index), problems, accepted_at_ns)
        if point is not None:
            points.append(point)
    return points


def _unknown_keys(
    value: Mapping[str, Any], allowed: Mapping[str, Any] | set[str], loc: Loc, problems: _Problems
) -> None:
    for key in value:
        if key not in allowed:
            problems.add(
                (*loc, key), f"unknown key; expected only {', '.join(sorted(allowed))}", "extra_forbidden"
            )


def _missing_keys(value: Mapping[str, Any], required: Any, loc: Loc, problems: _Problems) -> None:
    for key in required:
        if key not in value:
            problems.add((*loc, key), "is required", "missing")


def validate_points(
    payload: object, *, kinds: Mapping[str, Kind], max_points: int, accepted_at_ns: int
) -> Accepted:
    """Check a `POST /api/v1/points` body (`{"kind", "points": [...]}`): each point as a point of
    `POST /` is checked, located as `points[3].tags.host`."""
    problems = _Problems()
    kind: Kind | None = None
    points: list[MetricPoint] = []
    try:
        kind = _points_envelope(payload, problems, max_points, kinds)
        if kind is not None and kind.shape is not None and isinstance(payload, dict):
            points = _points(payload["points"], kind.shape, "points", problems, accepted_at_ns)
    except _TooManyProblems:
        pass
    problems.raise_if_any()
    if kind is None:  # pragma: no cover  (no kind means a problem was reported)
        raise _invalid([ErrorDetail(loc=["body"], message="body: not a batch of points")])
    return Accepted(kind=kind, points=points)


def _points_envelope(
    payload: object, problems: _Problems, max_points: int, kinds: Mapping[str, Kind]
) -> Kind | None:
    if not isinstance(payload, dict):
        problems.add((), 'must be a JSON object {"kind", "points"}', "object_type")
        return None
    _unknown_keys(payload, {"kind", "points"}, (), problems)
    _missing_keys(payload, ("kind", "points"), (), problems)
    kind = None
    if "kind" in payload:
        name = payload["kind"]
        kind = kinds.get(name) if isinstance(name, str) else None
        if kind is None:
            problems.add(("kind",), f"{_shown(name)} is not a kind; use one of {kind_names(kinds)}")
        elif kind.shape is None:
            problems.add(("kind",), f"{kind.name} has its own envelope: send it to POST /")
            kind = None
    points = payload.get("points")
    if "points" in payload:
        if not isinstance(points, list):
            problems.add(("points",), "must be an array of points", "list_type")
        elif not points:
            problems.add(("points",), "must hold at least one point", "too_short")
        elif len(points) > max_points:
            problems.add(
                ("points",), f"holds {len(points)} points; at most {max_points} per request", "too_long"
            )
    return kind if not problems.details else None


def _envelope(
    payload: object, problems: _Problems, max_points: int, kinds: Mapping[str, Kind]
) -> Kind | None:
    if not isinstance(payload, dict):
        problems.add((), 'must be a JSON object {"api_version", "metadata", "data"}', "object_type")
        return None
    _unknown_keys(payload, {"api_version", "metadata", "data"}, (), problems)
    _missing_keys(payload, ("api_version", "metadata", "data"), (), problems)
    version = payload.get("api_version")
    if "api_version" in payload and version not in API_VERSIONS:
        problems.add(
            ("api_version",), f"{_shown(version)} is not supported; use one of {', '.join(API_VERSIONS)}"
        )
    metadata = payload.get("metadata")
    kind = None
    if "metadata" in payload:
        if not isinstance(metadata, dict):
            problems.add(("metadata",), "must be an object", "object_type")
        elif "metrics" not in metadata:
            problems.add(("metadata", "metrics"), f"is required: one of {kind_names(kinds)}", "missing")
        else:
            name = metadata["metrics"]
            kind = kinds.get(name) if isinstance(name, str) else None
            if kind is None:
                problems.add(
                    ("metadata", "metrics"),
                    f"{_shown(name)} is not a kind; use one of {kind_names(kinds)}",
                )
            elif kind.shape is not None:
                _unknown_keys(metadata, {"metrics"}, ("metadata",), problems)
    data = payload.get("data")
    if "data" in payload:
        if not isinstance(data, list):
            problems.add(("data",), "must be an array of points", "list_type")
            kind = None
        elif not data:
            problems.add(("data",), "must hold at least one point", "too_short")
        elif len(data) > max_points:
            problems.add(("data",), f"holds {len(data)} points; at most {max_points} per request", "too_long")
            kind = None
    return kind if not problems.details else None


def _name(value: object, loc: Loc, problems: _Problems, *, measurement: bool = False) -> str | None:
    if not isinstance(value, str):
        problems.add(loc, "must be a string", "string_type")
        return None
    if len(value) > MAX_NAME_CHARS:
        problems.add(loc, f"is longer than {MAX_NAME_CHARS} characters", "string_too_long")
        return None
    reason = unwritable(value, measurement=measurement)
    if reason is not None:
        problems.add(loc, reason)
        return None
    return value


def _number(value: object, loc: Loc, problems: _Problems, *, integer: bool = False) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.add(
            loc,
            "must be an integer" if integer else "must be a number",
            "int_type" if integer else "number_type",
        )
        return None
    if isinstance(value, float):
        if integer:
            problems.add(loc, f"must be an integer, not {value!r}", "int_type")
            return None
        if not math.isfinite(value):  # pragma: no cover  (parse_json refuses NaN and Infinity)
            problems.add(loc, "must be a finite number", "finite_number")
            return None
    elif not MIN_INT64 <= value <= MAX_INT64:
        problems.add(loc, "does not fit a 64-bit integer", "int_range")
        return None
    return value


def _tag_value(value: object, expected: ValueType, loc: Loc, problems: _Problems) -> str | None:
    text: str
    if expected is ValueType.STRING or (expected is ValueType.SCALAR and isinstance(value, str)):
        if not isinstance(value, str):
            problems.add(loc, "must be a string", "string_type")
            return None
        text = value
    else:
        number = _number(value, loc, problems, integer=expected is ValueType.INTEGER)
        if number is None:
            return None
        text = str(number)
    if text == "":
        return ""  # left out, as influxdb-python did: InfluxDB stores no empty tag value
    if len(text) > MAX_TAG_VALUE_CHARS:
        problems.add(loc, f"is longer than {MAX_TAG_VALUE_CHARS} characters", "string_too_long")
        return None
    reason = unwritable(text)
    if reason is not None:
        problems.add(loc, reason)
        return None
    return text


def _field_value(value: object, expected: ValueType, loc: Loc, problems: _Problems) -> FieldValue | None:
    if expected is ValueType.STRING or (expected is ValueType.SCALAR and isinstance(value, str)):
        if not isinstance(value, str):
            problems.add(loc, "must be a string", "string_type")
            return None
        if len(value) > MAX_STRING_FIELD_CHARS:
            problems.add(loc, f"is longer than {MAX_STRING_FIELD_CHARS} characters", "string_too_long")
            return None
        reason = unwritable(value, quoted=True)
        if reason is not None:
            problems.add(loc, reason)
            return None
        return value
    if expected is ValueType.BOOLEAN:
        if not isinstance(value, bool):
            problems.add(loc, "must be true or false", "bool_type")
            return None
        return value
    number = _number(value, loc, problems, integer=expected is ValueType.INTEGER)
    # a float field stays a float field when a client sends `3`: InfluxDB would refuse `3i` there
    return float(number) if number is not None and expected is ValueType.FLOAT else number


def _tags(tags: object, shape: PointShape, loc: Loc, problems: _Problems) -> dict[str, str] | None:
    if not isinstance(tags, dict):
        problems.add(loc, "must be an object", "object_type")
        return None
    _unknown_keys(tags, shape.tags, loc, problems)
    _missing_keys(tags, [key for key in shape.tags if key not in shape.optional_tags], loc, problems)
    found: dict[str, str] = {}
    for key, expected in shape.tags.items():
        if key in tags:
            text = _tag_value(tags[key], expected, (*loc, key), problems)
            if text:
                found[key] = text
    return found


def _fields(fields: object, shape: PointShape, loc: Loc, problems: _Problems) -> dict[str, FieldValue] | None:
    if not isinstance(fields, dict):
        problems.add(loc, "must be an object", "object_type")
        return None
    if len(fields) > MAX_FIELDS:
        problems.add(loc, f"has {len(fields)} fields; at most {MAX_FIELDS}", "too_long")
        return None
    found: dict[str, FieldValue] = {}
    for key, value in fields.items():
        if key in shape.fields:
            expected = shape.fields[key]
        elif shape.field_pattern is not None and shape.field_pattern.fullmatch(key):
            expected = shape.pattern_type
        else:
            allowed = (
                f"names matching {shape.field_pattern.pattern}"
                if shape.field_pattern
                else ", ".join(shape.fields)
            )
            problems.add((*loc, key), f"unknown field; expected {allowed}", "extra_forbidden")
            continue
        if _name(key, (*loc, key), problems) is None:  # a pattern may admit what line protocol cannot
            continue
        checked = _field_value(value, expected, (*loc, key), problems)
        if checked is not None:
            found[key] = checked
    if shape.field_pattern is not None and not fields:
        problems.add(loc, "must hold at least one field", "too_short")
    elif len(shape.field_sets) > 1:
        present = set(fields)
        if not any(present == set(option) for option in shape.field_sets):
            options = " or ".join("{" + ", ".join(sorted(option)) + "}" for option in shape.field_sets)
            problems.add(loc, f"must hold exactly one of these sets of fields: {options}", "field_set")
    else:
        required = [key for key in shape.fields if key not in shape.optional_fields]
        _missing_keys(fields, required, loc, problems)
        if not fields and not required:  # every field optional: still, a point needs one
            problems.add(loc, "must hold at least one field", "too_short")
    return found


def _point(
    item: object, shape: PointShape, loc: Loc, problems: _Problems, accepted_at_ns: int
) -> MetricPoint | None:
    if not isinstance(item, dict):
        problems.add(loc, 'must be an object {"measurement", "tags", "fields", "time"}', "object_type")
        return None
    allowed = {"measurement", "tags", "fields", "time"}
    _unknown_keys(item, allowed, loc, problems)
    _missing_keys(
        item,
        ("measurement", "tags", "fields", "time")
        if shape.time_required
        else ("measurement", "tags", "fields"),
        loc,
        problems,
    )
    before = len(problems.details)
    measurement = (
        _name(item["measurement"], (*loc, "measurement"), problems, measurement=True)
        if "measurement" in item
        else None
    )
    tags = _tags(item["tags"], shape, (*loc, "tags"), problems) if "tags" in item else None
    fields = _fields(item["fields"], shape, (*loc, "fields"), problems) if "fields" in item else None
    time_ns = accepted_at_ns
    if "time" in item:
        try:
            time_ns = parse_time(item["time"])
        except BadTime as exc:
            problems.add((*loc, "time"), str(exc), "datetime")
    if measurement is not None and shape.measurements is not None and measurement not in shape.measurements:
        names = ", ".join(sorted(shape.measurements))
        problems.add((*loc, "measurement"), f"{measurement!r} is not allowed; use one of {names}")
    if len(problems.details) > before or measurement is None or tags is None or not fields:
        return None
    return MetricPoint(measurement=measurement, tags=tags, fields=fields, time_ns=time_ns)


def _tfm_image_size(payload: dict[str, Any], problems: _Problems) -> list[MetricPoint]:
    """`tfm_image_size`: metadata says which build; each item is one file's sizes. One point per payload."""
    metadata = payload["metadata"]
    _unknown_keys(metadata, {"metrics", "data_producer", "git_info", "build_info"}, ("metadata",), problems)
    _missing_keys(metadata, ("data_producer", "git_info", "build_info"), ("metadata",), problems)
    tags: dict[str, str] = {}
    if "data_producer" in metadata:
        producer = _tag_value(
            metadata["data_producer"], ValueType.STRING, ("metadata", "data_producer"), problems
        )
        if producer:
            tags["DataProducer"] = producer
    time_ns: int | None = None
    git = metadata.get("git_info")
    if "git_info" in metadata:
        if not isinstance(git, dict):
            problems.add(("metadata", "git_info"), "must be an object", "object_type")
        else:
            _unknown_keys(git, {"commit_time", *TFM_GIT_TAGS}, ("metadata", "git_info"), problems)
            _missing_keys(git, TFM_GIT_REQUIRED, ("metadata", "git_info"), problems)
            for key, tag in TFM_GIT_TAGS.items():
                if key in git:
                    text = _tag_value(git[key], ValueType.STRING, ("metadata", "git_info", key), problems)
                    if text:
                        tags[tag] = text
            if "commit_time" in git:
                try:
                    time_ns = parse_time(git["commit_time"])
                except BadTime as exc:
                    problems.add(("metadata", "git_info", "commit_time"), str(exc), "datetime")
    build = metadata.get("build_info")
    if "build_info" in metadata:
        if not isinstance(build, dict):
            problems.add(("metadata", "build_info"), "must be an object", "object_type")
        else:
            _unknown_keys(build, TFM_BUILD_TAGS, ("metadata", "build_info"), problems)
            _missing_keys(build, TFM_BUILD_TAGS, ("metadata", "build_info"), problems)
            for key, tag in TFM_BUILD_TAGS.items():
                if key in build:
                    text = _tag_value(build[key], ValueType.STRING, ("metadata", "build_info", key), problems)
                    if text:
                        tags[tag] = text
    fields: dict[str, FieldValue] = {}
    named_by: dict[str, int] = {}
    for index, item in enumerate(payload["data"]):
        loc: Loc = ("data", index)
        if not isinstance(item, dict):
            problems.add(loc, 'must be an object {"file", "bss", "data", "text"}', "object_type")
            continue
        _unknown_keys(item, {"file", *TFM_SIZES}, loc, problems)
        _missing_keys(item, ("file", *TFM_SIZES), loc, problems)
        if "file" not in item:
            continue
        file = item["file"]
        if not isinstance(file, str) or not file:
            problems.add((*loc, "file"), "must be a non-empty string", "string_type")
            continue
        stem = file.rsplit(".", 1)[0]
        if stem in named_by:
            problems.add(
                (*loc, "file"),
                f"{_shown(file)} has the same name without extension as data[{named_by[stem]}]: "
                "their fields would collide",
            )
            continue
        named_by[stem] = index
        for size, suffix in TFM_SIZES.items():
            if size not in item:
                continue
            name = _name(stem + suffix, (*loc, "file"), problems)
            value = _number(item[size], (*loc, size), problems, integer=True)
            if name is not None and value is not None:
                fields[name] = value
    if problems.details or time_ns is None:
        return []
    if len(fields) > MAX_FIELDS:
        problems.add(("data",), f"makes {len(fields)} fields; at most {MAX_FIELDS}", "too_long")
        return []
    return [MetricPoint(measurement=TFM_MEASUREMENT, tags=tags, fields=fields, time_ns=time_ns)]
