"""The wire models of custom kinds: what an admin registers, and what the API shows."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from metrics_broker.config import DATABASE_NAME
from metrics_broker.influx.line_protocol import unwritable
from metrics_broker.tfa.validation import MAX_FIELDS, MAX_NAME_CHARS

KIND_NAME = r"^[a-z][a-z0-9_]{1,63}$"
# a project path as qa_api names projects (`group/repo`, `group/sub/repo`); token patterns match it
PROJECT = r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$"
MAX_TAGS = 100
MAX_MEASUREMENTS = 100
# what PostgreSQL cannot store (NUL), UTF-8 cannot encode (lone surrogates), or no reader wants to see
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


class FieldType(StrEnum):
    """How a field is stored in InfluxDB: `int` (integer field), `float`, `string`, `bool`."""

    INT = "int"
    FLOAT = "float"
    STRING = "string"
    BOOL = "bool"


class TagRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    required: bool = Field(default=True, description="Whether every point must carry this tag.")


class FieldRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: FieldType
    required: bool = Field(default=True, description="Whether every point must carry this field.")


def _writable_name(name: str, *, measurement: bool = False) -> str:
    if len(name) > MAX_NAME_CHARS:
        raise ValueError(f"{name[:64]!r}... is longer than {MAX_NAME_CHARS} characters")
    reason = unwritable(name, measurement=measurement)
    if reason is not None:
        raise ValueError(f"{name[:64]!r} {reason}")
    return name


class KindDefinition(BaseModel):
    """What the points of a kind carry. Tag values are strings; a point may carry only the listed tags
    and fields, with the listed types."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field(default="", max_length=1000)
    measurements: list[str] = Field(
        min_length=1, max_length=MAX_MEASUREMENTS, description="The measurements a point may name."
    )
    tags: dict[str, TagRule] = Field(default_factory=dict, max_length=MAX_TAGS)
    fields: dict[str, FieldRule] = Field(min_length=1, max_length=MAX_FIELDS)
    time_required: bool = Field(
        default=True, description="false: a point without `time` gets the moment it was accepted."
    )

    @field_validator("description")
    @classmethod
    def _readable(cls, description: str) -> str:
        bad = _CONTROL.search(description)
        if bad is not None:
            raise ValueError(
                f"must not contain U+{ord(bad.group()):04X} (a control character or lone surrogate)"
            )
        return description

    @field_validator("measurements")
    @classmethod
    def _measurements(cls, names: list[str]) -> list[str]:
        if len(set(names)) != len(names):
            raise ValueError("lists a measurement twice")
        return [_writable_name(name, measurement=True) for name in names]

    @field_validator("tags", "fields")
    @classmethod
    def _keys(cls, rules: dict[str, Any]) -> dict[str, Any]:
        for name in rules:
            _writable_name(name)
            if name == "time":
                # InfluxDB refuses a tag or field named `time`: every point would be rejected
                raise ValueError("'time' is the point's timestamp; InfluxDB refuses it as a tag or field")
        return rules

    @model_validator(mode="after")
    def _tags_apart_from_fields(self) -> Self:
        both = sorted(set(self.tags) & set(self.fields))
        if both:
            # InfluxQL could not tell them apart in a query
            raise ValueError(f"{', '.join(both)}: a key is a tag or a field, not both")
        return self


class KindCreate(KindDefinition):
    name: str = Field(pattern=KIND_NAME, description="What payloads name in `metadata.metrics` or `kind`.")
    project: str = Field(
        pattern=PROJECT,
        max_length=200,
        description="The project namespace that owns the kind: a token restricted to projects writes "
        "it only when one of its patterns matches (`team-a/*` matches `team-a/perf`).",
    )
    database: str = Field(pattern=DATABASE_NAME, description="The InfluxDB database, created on first use.")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "perf_latency",
                    "project": "team-a/perf",
                    "database": "TeamA_Perf",
                    "description": "Request latencies of the nightly performance run.",
                    "measurements": ["latency"],
                    "tags": {"host": {"required": True}, "build": {"required": False}},
                    "fields": {
                        "p50_ms": {"type": "float"},
                        "p99_ms": {"type": "float"},
                        "requests": {"type": "int"},
                        "passed": {"type": "bool", "required": False},
                    },
                    "time_required": True,
                }
            ]
        },
    )


class KindPublic(KindCreate):
    created_by: str
    created_at: datetime


class KindList(BaseModel):
    builtin: list[str] = Field(description="TF-A's kinds: `GET /schemas/{kind}` shows each.")
    custom: list[KindPublic]
