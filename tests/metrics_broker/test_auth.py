"""`POST /auth` (TF-A's login) trades a QA Hub user's password for a narrow token made by qa_api, and
`POST /` accepts only valid tokens holding `metrics:write`, sent as `JWT` or `Bearer`."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest

from tests.metrics_broker.conftest import api_token, tfa_fixture
from tests.metrics_broker.influx import InfluxReader

PASSWORD = "correct horse battery"


def claims(token: str) -> dict[str, Any]:
    body = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return decoded


async def create_user(identity: httpx.AsyncClient, admin_token: str, **fields: Any) -> str:
    username = f"tfa-{uuid.uuid4().hex[:8]}"
    created = await identity.post(
        "/api/v2/users",
        json={"username": username, "password": PASSWORD, **fields},
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert created.status_code == 201, created.text
    return username


async def revoked(identity: httpx.AsyncClient) -> set[str]:
    response = await identity.get("/api/v2/auth/revocations")
    assert response.status_code == 200
    return set(response.json()["revoked"])


async def test_a_user_logs_in_as_tfa_does_and_the_token_writes_metrics(
    anonymous: httpx.AsyncClient,
    identity: httpx.AsyncClient,
    admin_token: str,
    reader: InfluxReader,
    databases: dict[str, str],
) -> None:
    username = await create_user(identity, admin_token)
    revoked_before = await revoked(identity)

    response = await anonymous.post("/auth", json={"username": username, "password": PASSWORD})

    assert response.status_code == 200, response.text
    assert list(response.json()) == ["access_token"]
    token = response.json()["access_token"]
    granted = claims(token)
    assert granted["sub"] == username
    assert granted["scope"] == "metrics:write"
    assert granted["aud"] == ["metrics_broker"]
    assert granted["exp"] - granted["iat"] == 24 * 3600
    # the login session used to make the token is revoked: the narrow token is the only credential left
    assert len(await revoked(identity) - revoked_before) == 1

    stored = await anonymous.post(
        "/", json=tfa_fixture("code_churn.json"), headers={"Authorization": f"JWT {token}"}
    )
    assert stored.status_code == 204, stored.text
    assert await reader.count(databases["tfa_code_churn"]) == 1
    # qa_api, where runs live, refuses it
    whoami = await identity.get("/api/v2/auth/whoami", headers={"Authorization": f"Bearer {token}"})
    assert whoami.status_code == 401


@pytest.mark.parametrize("who", ["wrong password", "unknown user"])
async def test_wrong_credentials_are_a_401_in_the_envelope(
    anonymous: httpx.AsyncClient, identity: httpx.AsyncClient, admin_token: str, who: str
) -> None:
    username = await create_user(identity, admin_token)
    body = (
        {"username": username, "password": "not the password"}
        if who == "wrong password"
        else {"username": f"nobody-{uuid.uuid4().hex[:6]}", "password": PASSWORD}
    )

    response = await anonymous.post("/auth", json=body)

    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "unauthorized",
        "message": "Wrong username or password.",
        "details": [],
        "request_id": response.headers["x-request-id"],
    }


async def test_a_user_without_metrics_write_gets_no_token(
    anonymous: httpx.AsyncClient, identity: httpx.AsyncClient, admin_token: str
) -> None:
    username = await create_user(identity, admin_token, scopes=["runs:read"])

    response = await anonymous.post("/auth", json={"username": username, "password": PASSWORD})

    assert response.status_code == 403
    assert "metrics:write" in response.json()["error"]["message"]


async def test_a_user_restricted_to_projects_gets_a_token_restricted_the_same_way(
    anonymous: httpx.AsyncClient, identity: httpx.AsyncClient, admin_token: str
) -> None:
    username = await create_user(identity, admin_token, projects=["tfa/*"])

    response = await anonymous.post("/auth", json={"username": username, "password": PASSWORD})

    assert response.status_code == 200, response.text
    granted = claims(response.json()["access_token"])
    assert granted["projects"] == ["tfa/*"]
    assert granted["scope"] == "metrics:write"
    stored = await anonymous.post(
        "/",
        json=tfa_fixture("code_churn.json"),
        headers={"Authorization": f"JWT {response.json()['access_token']}"},
    )
    # TF-A's kinds name no project: a metrics:write token writes them, as in TF-A
    assert stored.status_code == 204, stored.text


@pytest.mark.parametrize(
    "body",
    [
        {"username": "ada"},
        {"password": "x"},
        {"username": "ada", "password": "x", "scope": "admin"},
        {"username": "ada", "password": ""},
        {"username": 1, "password": "x"},
    ],
    ids=["no password", "no username", "extra key", "empty password", "number username"],
)
async def test_an_auth_body_other_than_username_and_password_is_a_422(
    anonymous: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await anonymous.post("/auth", json=body)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"


@pytest.mark.parametrize("scheme", ["JWT", "Bearer", "bearer"])
async def test_metrics_tokens_are_accepted_with_either_scheme(
    anonymous: httpx.AsyncClient,
    metrics_token: str,
    reader: InfluxReader,
    databases: dict[str, str],
    scheme: str,
) -> None:
    response = await anonymous.post(
        "/", json=tfa_fixture("code_churn.json"), headers={"Authorization": f"{scheme} {metrics_token}"}
    )

    assert response.status_code == 204, response.text
    assert await reader.count(databases["tfa_code_churn"]) == 1


async def refused(
    anonymous: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str], headers: dict[str, str]
) -> dict[str, Any]:
    response = await anonymous.post("/", json=tfa_fixture("code_churn.json"), headers=headers)
    assert await reader.count(databases["tfa_code_churn"]) == 0
    body: dict[str, Any] = response.json()
    body["status"] = response.status_code
    return body


async def test_without_a_token_nothing_is_stored(
    anonymous: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str]
) -> None:
    answer = await refused(anonymous, reader, databases, {})
    assert answer["status"] == 401
    assert answer["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    "header",
    ["JWT not-a-token", "Basic dXNlcjpwYXNz", "JWT", "JWT a.b.c"],
    ids=["garbage", "basic auth", "no token", "three parts"],
)
async def test_a_bad_token_is_a_401_and_nothing_is_stored(
    anonymous: httpx.AsyncClient, reader: InfluxReader, databases: dict[str, str], header: str
) -> None:
    answer = await refused(anonymous, reader, databases, {"Authorization": header})
    assert answer["status"] == 401


async def test_a_token_for_qa_api_only_is_refused_and_nothing_is_stored(
    anonymous: httpx.AsyncClient,
    identity: httpx.AsyncClient,
    admin_token: str,
    reader: InfluxReader,
    databases: dict[str, str],
) -> None:
    runs_token = await api_token(identity, admin_token, ["runs:write"])

    answer = await refused(anonymous, reader, databases, {"Authorization": f"Bearer {runs_token}"})

    assert answer["status"] == 401
    assert "audience" in answer["error"]["message"]


async def test_the_login_session_of_a_user_without_metrics_write_is_refused_and_nothing_is_stored(
    anonymous: httpx.AsyncClient,
    identity: httpx.AsyncClient,
    admin_token: str,
    reader: InfluxReader,
    databases: dict[str, str],
) -> None:
    # qa_api issues a token for the broker's audience only with metrics:write (or admin): a user's own
    # session without the scope is refused for its audience before any scope is looked at
    username = await create_user(identity, admin_token, scopes=["runs:read"])
    login = await identity.post("/api/v2/auth/login", json={"username": username, "password": PASSWORD})
    session = login.json()["access_token"]

    answer = await refused(anonymous, reader, databases, {"Authorization": f"JWT {session}"})

    assert answer["status"] == 401
    assert "audience" in answer["error"]["message"]
