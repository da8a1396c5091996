"""Builders for custom kinds: a definition, registered through the API as an admin does, and tokens
restricted to projects as `qahub token create --project` makes them."""

from __future__ import annotations

import uuid
from typing import Any

import httpx


def kind_definition(*, project: str, database: str, **changes: Any) -> dict[str, Any]:
    """A custom kind: latencies of a performance run; `name` is fresh unless given."""
    return {
        "name": f"perf_{uuid.uuid4().hex[:8]}",
        "project": project,
        "database": database,
        "description": "Request latencies of the nightly performance run.",
        "measurements": ["latency", "throughput"],
        "tags": {"host": {"required": True}, "build": {"required": False}},
        "fields": {
            "p50_ms": {"type": "float"},
            "requests": {"type": "int"},
            "passed": {"type": "bool", "required": False},
            "note": {"type": "string", "required": False},
        },
        **changes,
    }


def perf_point(host: str = "runner-1", **fields: Any) -> dict[str, Any]:
    return {
        "measurement": "latency",
        "tags": {"host": host},
        "fields": {"p50_ms": 12.5, "requests": 1000, **fields},
        "time": "2026-11-27T23:00:00Z",
    }


def envelope(kind: str, *points: dict[str, Any]) -> dict[str, Any]:
    """A payload of `POST /`, TF-A's envelope naming a custom kind."""
    return {"api_version": "1.0", "metadata": {"metrics": kind}, "data": list(points)}


async def register(anonymous: httpx.AsyncClient, admin_token: str, definition: dict[str, Any]) -> str:
    created = await anonymous.post(
        "/api/v1/kinds", json=definition, headers={"Authorization": f"Bearer {admin_token}"}
    )
    assert created.status_code == 201, created.text
    name: str = created.json()["name"]
    return name


async def restricted_token(
    identity: httpx.AsyncClient, admin_token: str, projects: list[str] | None, scopes: list[str] | None = None
) -> str:
    """A `metrics:write` API token restricted to these project patterns (None: unrestricted)."""
    created = await identity.post(
        "/api/v2/tokens",
        json={
            "name": f"broker-tests-{uuid.uuid4().hex[:6]}",
            "scopes": scopes or ["metrics:write"],
            "projects": projects,
        },
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert created.status_code == 201, created.text
    token: str = created.json()["access_token"]
    return token
