"""The OpenAPI document describes the broker's contracts: the new routes, the `Idempotency-Key` header,
the kinds' and batches' schemas with examples, and the one error envelope."""

from __future__ import annotations

import httpx


async def test_the_openapi_document_describes_kinds_points_and_the_idempotency_key(
    anonymous: httpx.AsyncClient,
) -> None:
    response = await anonymous.get("/openapi.json")

    assert response.status_code == 200, response.text
    document = response.json()
    paths = document["paths"]
    assert {"post", "get"} <= set(paths["/api/v1/kinds"])
    assert {"get", "delete"} <= set(paths["/api/v1/kinds/{name}"])
    points = paths["/api/v1/points"]["post"]
    assert {"name": "Idempotency-Key", "in": "header"}.items() <= points["parameters"][0].items()
    body = points["requestBody"]["content"]["application/json"]["schema"]
    assert body["examples"][0]["kind"] == "perf_latency"
    # placed by hand: no reference into the document that does not resolve
    assert "$ref" not in str(body)
    assert body["properties"]["points"]["items"]["properties"]["fields"]["type"] == "object"
    assert {"409", "422", "503"} <= set(points["responses"])
    assert "ErrorEnvelope" in str(points["responses"]["422"])
    kind_create = document["components"]["schemas"]["KindCreate"]
    assert kind_create["examples"][0]["fields"]["p50_ms"] == {"type": "float"}
