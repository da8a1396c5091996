"""The wire models of `POST /api/v1/points` (for the OpenAPI document; the body itself is checked by
`tfa.validation.validate_points`, which locates every problem as `points[3].tags.host`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from metrics_broker.influx.writer import Stored

EXAMPLE_BODY: dict[str, Any] = {
    "kind": "perf_latency",
    "points": [
        {
            "measurement": "latency",
            "tags": {"host": "runner-7", "build": "1234"},
            "fields": {"p50_ms": 12.5, "p99_ms": 48.0, "requests": 1000, "passed": True},
            "time": "2026-11-27T23:00:00Z",
        }
    ],
}


class PointPublic(BaseModel):
    measurement: str = Field(description="One of the kind's measurements.")
    tags: dict[str, str | int | float] = Field(description="The kind's tags; strings (TF-A's: as sent).")
    fields: dict[str, bool | int | float | str] = Field(description="The kind's fields, with their types.")
    time: str | int | None = Field(
        default=None,
        description="ISO-8601, git's `2020-11-17 16:43:51 +0000`, or nanoseconds since the epoch; "
        "required unless the kind says otherwise.",
    )


class PointsBatch(BaseModel):
    """What `POST /api/v1/points` takes: points of one registered kind (TF-A's or custom)."""

    kind: str = Field(examples=["perf_latency"])
    points: list[PointPublic] = Field(min_length=1)

    model_config = {"json_schema_extra": {"examples": [EXAMPLE_BODY]}}


class PointsStored(BaseModel):
    """The answer (the same one, byte for byte, to a retry with the same `Idempotency-Key`)."""

    kind: str
    database: str
    points: int
    stored_in: Stored = Field(description="`influxdb`, or `spool` while InfluxDB cannot take them.")


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema with its `$defs` inlined: placed in the OpenAPI document by hand (the route
    reads its body itself), a `#/$defs/...` reference would point at the document's root."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved
