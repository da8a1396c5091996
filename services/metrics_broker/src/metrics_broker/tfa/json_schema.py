"""The JSON Schema (draft 2020-12) of each kind, as `GET /schemas/{kind}` publishes it: what the
validation in `validation.py` checks, written where JSON Schema checks it (TF-A's put `required` lists
where they checked nothing)."""

from __future__ import annotations

from typing import Any

from metrics_broker.tfa.kinds import (
    TFM_BUILD_TAGS,
    TFM_GIT_REQUIRED,
    TFM_GIT_TAGS,
    TFM_SIZES,
    Kind,
    ValueType,
)
from metrics_broker.tfa.validation import (
    API_VERSIONS,
    MAX_FIELDS,
    MAX_NAME_CHARS,
    MAX_STRING_FIELD_CHARS,
    MAX_TAG_VALUE_CHARS,
)

DIALECT = "https://json-schema.org/draft/2020-12/schema"
_NO_LINE_BREAK = "^[^\\r\\n]*$"
_TIME = {
    "description": "git's '2020-11-17 16:43:51 +0000', ISO-8601, or nanoseconds since the epoch",
    "anyOf": [{"type": "string"}, {"type": "integer", "minimum": 946684800000000000}],
}


def _value(value_type: ValueType, *, tag: bool) -> dict[str, Any]:
    string = {"type": "string", "maxLength": MAX_TAG_VALUE_CHARS if tag else MAX_STRING_FIELD_CHARS}
    string["pattern"] = _NO_LINE_BREAK
    if value_type is ValueType.STRING:
        return string
    if value_type is ValueType.INTEGER:
        return {"type": "integer"}
    if value_type in (ValueType.NUMBER, ValueType.FLOAT):
        return {"type": "number"}
    if value_type is ValueType.BOOLEAN:
        return {"type": "boolean"}
    return {"anyOf": [string, {"type": "number"}]}


def _envelope(kind: Kind, metadata: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": DIALECT,
        "$id": f"/schemas/{kind.name}",
        "title": kind.name,
        "description": kind.description,
        "type": "object",
        "properties": {"api_version": {"enum": list(API_VERSIONS)}, "metadata": metadata, "data": data},
        "required": ["api_version", "metadata", "data"],
        "additionalProperties": False,
    }


def json_schema(kind: Kind, *, max_points: int) -> dict[str, Any]:
    """The JSON Schema a payload of `kind` must satisfy."""
    if kind.shape is None:
        return _tfm_schema(kind)
    shape = kind.shape
    fields: dict[str, Any] = {
        "type": "object",
        "properties": {name: _value(t, tag=False) for name, t in shape.fields.items()},
        "additionalProperties": False,
        "minProperties": 1,
        "maxProperties": MAX_FIELDS,
    }
    if shape.field_pattern is not None:
        fields["patternProperties"] = {shape.field_pattern.pattern: _value(shape.pattern_type, tag=False)}
        # Python's `$` also matches before a final newline (validators written in Python follow it)
        fields["propertyNames"] = {"not": {"pattern": "[\\r\\n]"}}
    if len(shape.field_sets) > 1:
        fields["oneOf"] = [
            {
                "required": sorted(option),
                "not": {"anyOf": [{"required": [other]} for other in sorted(set(shape.fields) - option)]},
            }
            for option in shape.field_sets
        ]
    elif shape.fields:
        fields["required"] = [name for name in shape.fields if name not in shape.optional_fields]
    required = ["measurement", "tags", "fields", *(["time"] if shape.time_required else [])]
    measurement: dict[str, Any] = {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_NAME_CHARS,
        "pattern": _NO_LINE_BREAK,
    }
    if shape.measurements is not None:
        measurement = {"enum": sorted(shape.measurements)}
    point = {
        "type": "object",
        "properties": {
            "measurement": measurement,
            "tags": {
                "type": "object",
                "properties": {name: _value(t, tag=True) for name, t in shape.tags.items()},
                "required": [name for name in shape.tags if name not in shape.optional_tags],
                "additionalProperties": False,
            },
            "fields": fields,
            "time": _TIME,
        },
        "required": required,
        "additionalProperties": False,
    }
    metadata = {
        "type": "object",
        "properties": {"metrics": {"const": kind.name}},
        "required": ["metrics"],
        "additionalProperties": False,
    }
    data = {"type": "array", "minItems": 1, "maxItems": max_points, "items": point}
    return _envelope(kind, metadata, data)


def _strings(names: list[str], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: _value(ValueType.STRING, tag=True) for name in names},
        "required": required,
        "additionalProperties": False,
    }


def _tfm_schema(kind: Kind) -> dict[str, Any]:
    git = _strings(["commit_time", *TFM_GIT_TAGS], list(TFM_GIT_REQUIRED))
    git["properties"]["commit_time"] = {"type": "string", "description": _TIME["description"]}
    metadata = {
        "type": "object",
        "properties": {
            "metrics": {"const": kind.name},
            "data_producer": _value(ValueType.STRING, tag=True),
            "git_info": git,
            "build_info": _strings(list(TFM_BUILD_TAGS), list(TFM_BUILD_TAGS)),
        },
        "required": ["metrics", "data_producer", "git_info", "build_info"],
        "additionalProperties": False,
    }
    item = {
        "type": "object",
        "properties": {
            "file": {"type": "string", "minLength": 1, "maxLength": MAX_NAME_CHARS - 2},
            **{size: {"type": "integer"} for size in TFM_SIZES},
        },
        "required": ["file", *TFM_SIZES],
        "additionalProperties": False,
    }
    data = {"type": "array", "minItems": 1, "maxItems": MAX_FIELDS // len(TFM_SIZES), "items": item}
    return _envelope(kind, metadata, data)
