"""Bad input gets a clear 4xx in the one error envelope: never a 500, never a half-written row."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.qa_api.builders import PROJECT, SHA, output_report, post_output


def _assert_envelope(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"]
    assert error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    return error


async def _nothing_stored(client: httpx.AsyncClient) -> bool:
    response = await client.get("/api/v2/projects")
    items: list[object] = response.json()["items"]
    return items == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"project": None}, "project"),
        ({"project": "group//repo"}, "project"),
        ({"project": "group/../secrets"}, "project"),
        ({"project": "x" * 300}, "project"),
        ({"commit_sha": "not-a-sha", "git_commit_sha": "not-a-sha"}, "commit_sha"),
        ({"commit_parents": ["zz"]}, "commit_parents"),
        ({"input_path": "../../etc/passwd", "rel_input_path": None}, "input_path"),
        ({"output_directory": "/mnt/qa/../../etc"}, "output_directory"),
        ({"batch_label": "a\nb"}, "batch_label"),
        ({"metrics": [1, 2]}, "metrics"),
        ({"is_pending": "maybe"}, "is_pending"),
        ({"commit_authored_datetime": "yesterday"}, "commit_authored_datetime"),
        ({"configurations": {"not": "a list"}}, "configurations"),
    ],
)
async def test_invalid_fields_are_refused_with_their_location(
    client: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    body = output_report() | change

    error = _assert_envelope(await client.post("/api/v1/output/", json=body), 422)

    assert any(field in detail["loc"] for detail in error["details"]), error
    assert await _nothing_stored(client)


async def test_missing_commit_sha_and_input_path_are_named(client: httpx.AsyncClient) -> None:
    body = output_report()
    for key in ("commit_sha", "git_commit_sha"):
        body.pop(key)
    no_sha = _assert_envelope(await client.post("/api/v1/output/", json=body), 422)
    body = output_report()
    for key in ("input_path", "rel_input_path"):
        body.pop(key)
    no_input = _assert_envelope(await client.post("/api/v1/output/", json=body), 422)

    assert "commit_sha" in no_sha["message"]
    assert "input path" in no_input["message"]


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e999"])
async def test_non_finite_numbers_are_refused(client: httpx.AsyncClient, token: str) -> None:
    raw = json.dumps(output_report(metrics={"psnr": 1.5})).replace("1.5", token)

    error = _assert_envelope(
        await client.post("/api/v1/output/", content=raw, headers={"content-type": "application/json"}), 422
    )

    assert "metrics.psnr" in error["message"]
    assert await _nothing_stored(client)


@pytest.mark.parametrize(
    "change",
    [
        {"commit_message": "nul \u0000 byte"},
        {"metrics": {"psnr\u0000": 1}},
        {"data": {"log": "a\u0000b"}},
    ],
)
async def test_text_postgresql_cannot_store_is_refused(
    client: httpx.AsyncClient, change: dict[str, Any]
) -> None:
    _assert_envelope(await client.post("/api/v1/output/", json=output_report() | change), 422)

    assert await _nothing_stored(client)


async def test_a_lone_surrogate_is_refused(client: httpx.AsyncClient) -> None:
    raw = json.dumps(output_report(metrics={"note": "x"})).replace('"x"', '"\\ud800"')

    _assert_envelope(
        await client.post("/api/v1/output/", content=raw, headers={"content-type": "application/json"}), 422
    )


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[]", b"null", b'"text"', b""],
)
async def test_bodies_that_are_not_a_json_object_are_refused(client: httpx.AsyncClient, raw: bytes) -> None:
    response = await client.post("/api/v1/output/", content=raw, headers={"content-type": "application/json"})

    _assert_envelope(response, 422)


async def test_a_body_that_is_not_declared_as_json_is_refused(client: httpx.AsyncClient) -> None:
    raw = json.dumps(output_report())

    response = await client.post("/api/v1/output/", content=raw, headers={"content-type": "text/plain"})

    error = _assert_envelope(response, 422)
    assert "Content-Type: application/json" in error["message"]
    assert await _nothing_stored(client)


async def test_a_body_over_the_size_cap_is_refused_with_413(client: httpx.AsyncClient) -> None:
    body = output_report()
    body["data"] = {"blob": "x" * 2 * 1024 * 1024}

    error = _assert_envelope(await client.post("/api/v1/output/", json=body), 413)

    assert "limit" in error["message"]
    assert await _nothing_stored(client)


async def test_a_streamed_body_over_the_size_cap_is_refused_with_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"project": "acme/vision", "data": "'
        for _ in range(40):
            yield b"x" * 64 * 1024
        yield b'"}'

    response = await client.post(
        "/api/v1/output/", content=chunks(), headers={"content-type": "application/json"}
    )

    _assert_envelope(response, 413)
    assert await _nothing_stored(client)


async def test_unknown_routes_and_methods_answer_in_the_envelope(client: httpx.AsyncClient) -> None:
    _assert_envelope(await client.get("/api/v1/nothing-here"), 404)
    _assert_envelope(await client.patch("/api/v1/batch/"), 405)


async def test_unknown_fields_the_cli_sends_are_accepted(client: httpx.AsyncClient) -> None:
    body = output_report() | {"some_future_cli_field": {"anything": [1, 2]}, "id": None, "command": "qa run"}

    result = await post_output(client, body)

    assert result["test_input_path"] == "A.jpg"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v2/commits", {"project": PROJECT, "limit": "1000"}),
        ("/api/v2/commits", {"project": PROJECT, "limit": "0"}),
        ("/api/v2/commits", {"project": PROJECT, "cursor": "garbage"}),
        ("/api/v2/commits", {"project": PROJECT, "since": "2026-12-01", "until": "2026-11-01"}),
        ("/api/v2/commits", {"project": PROJECT, "since": "not a date"}),
        ("/api/v2/commits", {"project": PROJECT, "metrics": json.dumps([f"m{i}" for i in range(51)])}),
        ("/api/v2/projects", {"cursor": "eyJub3BlIjoxfQ"}),
        (f"/api/v2/commits/{SHA}", {"project": "a b"}),
    ],
)
async def test_invalid_query_parameters_are_refused(
    client: httpx.AsyncClient, path: str, params: dict[str, str]
) -> None:
    await post_output(client, output_report())

    _assert_envelope(await client.get(path, params=params), 422)
