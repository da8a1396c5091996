"""The one place that speaks InfluxDB's line protocol: a `MetricPoint` in, one line out.

    measurement[,tag_key=tag_value...] field_key=field_value[,...] timestamp_ns

Escaping (InfluxDB 1.x):
- measurement: `,` and ` ` are backslash-escaped;
- tag keys, tag values, field keys: `,`, ` ` and `=` are backslash-escaped;
- string field values are double-quoted, with `\\` and `"` backslash-escaped.

Some texts cannot be written at all, whatever the escaping: a newline ends the line, and in names and tag
values a backslash is taken literally except before `,`, ` ` or `=` (which it escapes), so a backslash at
the end of a name or just before one of those characters cannot be told from an escape. Nor can any
text hold a lone surrogate (U+D800-U+DFFF: JSON's `"\\ud800"` parses to one, UTF-8 cannot encode it) or
a control character other than tab (NUL cannot even be spooled: PostgreSQL text refuses it). `unwritable`
says why a text is refused; validation calls it first, so `encode` only meets texts it can write.

Field values: integers are written as integer fields (`12i`), floats as floats (shortest repr, so they
come back bit for bit), strings as strings, booleans as `true`/`false`: the types the TF-A broker wrote
through influxdb-python, which existing dashboards rely on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

FieldValue = bool | int | float | str

# InfluxDB stores int64 fields and timestamps; its own bounds on timestamps are one inside int64's.
MIN_INT64 = -(2**63)
MAX_INT64 = 2**63 - 1
MIN_TIME_NS = MIN_INT64 + 2
MAX_TIME_NS = MAX_INT64 - 1

_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ "})
_KEY_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", "=": r"\="})
_STRING_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"'})
_ESCAPE_LOOKALIKE = re.compile(r"\\[, =]")
# C0 controls but tab (line breaks are reported apart), and lone surrogates
_UNENCODABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
# Measurements, keys and tag values repeat from point to point: each is checked and escaped once.
_ESCAPED_NAMES = 16384


class UnwritablePoint(ValueError):
    """The point holds something line protocol cannot carry; validation should have refused it."""


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One point as it is stored: measurement, tags (strings), typed fields, a nanosecond timestamp."""

    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, FieldValue]
    time_ns: int


def unwritable(text: str, *, quoted: bool = False, measurement: bool = False) -> str | None:
    """Why `text` cannot be written as a name or tag value (or, `quoted`, as a string field; or as a
    `measurement`); None if it can."""
    if "\n" in text or "\r" in text:
        return "must not contain a line break"
    bad = _UNENCODABLE.search(text)
    if bad is not None:
        char = ord(bad.group())
        what = "a lone surrogate" if 0xD800 <= char <= 0xDFFF else "a control character"
        return f"must not contain {what} (U+{char:04X})"
    if quoted:
        return None
    if not text:
        return "must not be empty"
    if measurement and text.startswith("#"):
        # InfluxDB skips a line starting with '#' as a comment: the point would vanish without an error
        return "must not start with '#'"
    if text.endswith("\\"):
        return "must not end with a backslash"
    if "\\" in text and _ESCAPE_LOOKALIKE.search(text):
        return "must not have a backslash just before a comma, a space or '='"
    return None


@lru_cache(maxsize=_ESCAPED_NAMES)
def _measurement(text: str) -> str:
    reason = unwritable(text, measurement=True)
    if reason is not None:
        raise UnwritablePoint(f"{text!r} {reason}")
    return text.translate(_MEASUREMENT_ESCAPES)


@lru_cache(maxsize=_ESCAPED_NAMES)
def _key(text: str) -> str:
    """A tag key, tag value or field key, escaped."""
    reason = unwritable(text)
    if reason is not None:
        raise UnwritablePoint(f"{text!r} {reason}")
    return text.translate(_KEY_ESCAPES)


def _field_value(value: FieldValue) -> str:
    # bool before int: bool is a subclass of int
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not MIN_INT64 <= value <= MAX_INT64:
            raise UnwritablePoint(f"integer {value} does not fit InfluxDB's 64-bit integers")
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UnwritablePoint(f"{value} is not a finite number")
        return repr(value)
    reason = unwritable(value, quoted=True)
    if reason is not None:
        raise UnwritablePoint(f"string field {reason}")
    return '"' + value.translate(_STRING_ESCAPES) + '"'


def encode(point: MetricPoint) -> str:
    """The point as one line of line protocol (no trailing newline); tags sorted by key, as InfluxDB
    prefers. Raises `UnwritablePoint` for what `unwritable` refuses, no fields, or a time out of range."""
    if not point.fields:
        raise UnwritablePoint("a point needs at least one field")
    if not MIN_TIME_NS <= point.time_ns <= MAX_TIME_NS:
        raise UnwritablePoint(f"timestamp {point.time_ns} is out of InfluxDB's range")
    parts = [_measurement(point.measurement)]
    for key in sorted(point.tags):
        parts.append(f",{_key(key)}={_key(point.tags[key])}")
    fields = ",".join(f"{_key(key)}={_field_value(value)}" for key, value in point.fields.items())
    parts.append(f" {fields} {point.time_ns}")
    return "".join(parts)
