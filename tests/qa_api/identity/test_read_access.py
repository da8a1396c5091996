"""Reads: open in dev mode; with `QAHUB_OPEN_READS=false` (the production default) they need `runs:read`
on the project, and lists show only the projects the token may see."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from qa_api.config import Settings
from qa_api.main import create_app
from tests.qa_api.builders import SHA, output_report, post_output
from tests.qa_api.identity.helpers import bearer, create_token


@pytest.fixture
async def closed(settings: Settings, client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """qa_api with closed reads, on the database `client` just emptied, holding runs of two projects."""
    for project in ("acme/vision", "other/audio"):
        await post_output(client, output_report(project=project))
    app = create_app(settings.model_copy(update={"open_reads": False}))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://qa-api.test") as closed_client:
            yield closed_client


async def test_reads_are_open_in_dev_mode(client: httpx.AsyncClient, anonymous: httpx.AsyncClient) -> None:
    await post_output(client, output_report())
    assert (await anonymous.get("/api/v2/projects")).status_code == 200
    assert (
        await anonymous.get(f"/api/v1/commit/{SHA}", params={"project": "acme/vision"})
    ).status_code == 200


async def test_closed_reads_refuse_a_caller_without_a_token(closed: httpx.AsyncClient) -> None:
    for path, params in [
        ("/api/v2/projects", {}),
        ("/api/v1/projects", {}),
        (f"/api/v1/commit/{SHA}", {"project": "acme/vision"}),
        ("/api/v2/commits", {"project": "acme/vision"}),
        ("/api/v1/output/1/", {}),
    ]:
        response = await closed.get(path, params=params)
        assert response.status_code == 401, f"{path}: {response.text}"


async def test_closed_reads_show_a_restricted_token_only_its_projects(
    closed: httpx.AsyncClient, anonymous: httpx.AsyncClient, admin_token: str
) -> None:
    reader = await create_token(anonymous, admin_token, scopes=["runs:read"], projects=["acme/*"])
    headers = bearer(reader["access_token"])

    v2_projects = await closed.get("/api/v2/projects", headers=headers)
    v1_projects = await closed.get("/api/v1/projects", headers=headers)
    own = await closed.get(f"/api/v1/commit/{SHA}", params={"project": "acme/vision"}, headers=headers)
    other = await closed.get(f"/api/v1/commit/{SHA}", params={"project": "other/audio"}, headers=headers)
    other_v2 = await closed.get(f"/api/v2/commits/{SHA}", params={"project": "other/audio"}, headers=headers)
    as_admin = await closed.get(
        f"/api/v1/commit/{SHA}", params={"project": "other/audio"}, headers=bearer(admin_token)
    )
    [other_output_id] = as_admin.json()["batches"]["default"]["outputs"]
    other_output = await closed.get(f"/api/v1/output/{other_output_id}/", headers=headers)

    assert [item["id"] for item in v2_projects.json()["items"]] == ["acme/vision"]
    assert list(v1_projects.json()) == ["acme/vision"]
    assert own.status_code == 200
    assert other.status_code == other_v2.status_code == other_output.status_code == 403


async def test_closed_reads_refuse_a_token_without_runs_read(
    closed: httpx.AsyncClient, anonymous: httpx.AsyncClient, admin_token: str
) -> None:
    # session tokens always open qa_api; a user holding only metrics:write has no business reading runs
    metrics_user = await anonymous.post(
        "/api/v2/users",
        json={"username": "metrics-only-reader", "password": "long enough pw", "scopes": ["metrics:write"]},
        headers=bearer(admin_token),
    )
    assert metrics_user.status_code in (201, 409), metrics_user.text
    login = await anonymous.post(
        "/api/v2/auth/login", json={"username": "metrics-only-reader", "password": "long enough pw"}
    )
    response = await closed.get("/api/v2/projects", headers=bearer(login.json()["access_token"]))

    assert response.status_code == 403
    assert "runs:read" in response.json()["error"]["message"]


async def test_closed_reads_refuse_a_comparison_with_a_project_the_token_may_not_read(
    closed: httpx.AsyncClient, anonymous: httpx.AsyncClient, admin_token: str
) -> None:
    reader = await create_token(anonymous, admin_token, scopes=["runs:read"], projects=["acme/*"])
    params = {"project": "acme/vision", "commit": SHA, "reference": SHA, "metrics": "psnr"}

    own = await closed.get("/api/v2/compare", params=params, headers=bearer(reader["access_token"]))
    other = await closed.get(
        "/api/v2/compare",
        params=params | {"reference_project": "other/audio"},
        headers=bearer(reader["access_token"]),
    )
    as_admin = await closed.get(
        "/api/v2/compare", params=params | {"reference_project": "other/audio"}, headers=bearer(admin_token)
    )

    assert own.status_code == 200, own.text
    assert other.status_code == 403
    assert other.json()["error"]["code"] == "forbidden"
    assert as_admin.status_code == 200, as_admin.text
