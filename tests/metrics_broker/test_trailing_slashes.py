"""Every route of the broker answers with and without its trailing slash, neither form redirecting: TF-A's
generators and `curl` do not follow a 307 on a POST."""

from __future__ import annotations

import httpx
import pytest

from tests.metrics_broker.kinds import kind_definition
from tests.metrics_broker.test_auth import PASSWORD, create_user
from tests.metrics_broker.test_points import churn_points


def both_forms(path: str) -> list[str]:
    return [path, f"{path}/"]


@pytest.mark.parametrize("path", both_forms("/auth"))
async def test_tfa_login_is_answered_with_and_without_a_trailing_slash(
    anonymous: httpx.AsyncClient, identity: httpx.AsyncClient, admin_token: str, path: str
) -> None:
    username = await create_user(identity, admin_token, scopes=["metrics:write"])

    response = await anonymous.post(path, json={"username": username, "password": PASSWORD})

    assert response.status_code == 200, response.text
    assert list(response.json()) == ["access_token"]


@pytest.mark.parametrize("path", both_forms("/api/v1/points"))
async def test_a_batch_of_points_is_stored_with_and_without_a_trailing_slash(
    broker: httpx.AsyncClient, path: str
) -> None:
    response = await broker.post(path, json={"kind": "tfa_code_churn", "points": churn_points(2)})

    assert response.status_code == 200, response.text
    assert response.json()["points"] == 2


@pytest.mark.parametrize("path", both_forms("/api/v1/kinds"))
async def test_a_kind_is_registered_listed_shown_and_deleted_with_and_without_a_trailing_slash(
    anonymous: httpx.AsyncClient, admin_token: str, custom_database: str, path: str
) -> None:
    admin = {"Authorization": f"Bearer {admin_token}"}
    definition = kind_definition(project="team-a/perf", database=custom_database)
    name = definition["name"]
    one = f"{path.rstrip('/')}/{name}" + ("/" if path.endswith("/") else "")

    created = await anonymous.post(path, json=definition, headers=admin)
    listed = await anonymous.get(path, headers=admin)
    shown = await anonymous.get(one, headers=admin)
    deleted = await anonymous.delete(one, headers=admin)

    assert created.status_code == 201, created.text
    assert listed.status_code == 200, listed.text
    assert name in {kind["name"] for kind in listed.json()["custom"]}
    assert shown.status_code == 200, shown.text
    assert shown.json()["name"] == name
    assert deleted.status_code == 204, deleted.text


@pytest.mark.parametrize(
    "path", [*both_forms("/schemas/tfa_code_churn"), *both_forms("/spool"), *both_forms("/metrics")]
)
async def test_the_read_routes_answer_with_and_without_a_trailing_slash(
    anonymous: httpx.AsyncClient, admin_token: str, path: str
) -> None:
    response = await anonymous.get(path, headers={"Authorization": f"Bearer {admin_token}"})

    assert response.status_code == 200, response.text


async def test_a_path_no_route_serves_in_either_form_is_a_404_in_the_envelope(
    anonymous: httpx.AsyncClient,
) -> None:
    for path in ("/nowhere", "/nowhere/"):
        response = await anonymous.get(path)

        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
