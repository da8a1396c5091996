"""Password logins: a session token on success, one vague 401 on failure, and rate limits against guessing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from qa_api.config import Settings
from qa_api.main import create_app
from tests.qa_api.identity.helpers import PASSWORD, bearer, create_user, login, unique


async def test_a_login_returns_a_session_token_with_the_users_scopes(
    anonymous: httpx.AsyncClient, admin_token: str
) -> None:
    username = unique("ada")
    await create_user(anonymous, admin_token, username, scopes=["runs:write"], projects=["acme/*"])

    token = await login(anonymous, username)
    me = await anonymous.get("/api/v2/auth/whoami", headers=bearer(token))

    assert me.status_code == 200, me.text
    assert me.json() | {"token_id": None, "expires_at": None} == {
        "username": username,
        "token_id": None,
        "kind": "session",
        "scopes": ["runs:read", "runs:write"],
        "projects": ["acme/*"],
        "expires_at": None,
    }


async def test_usernames_are_case_insensitive(anonymous: httpx.AsyncClient, admin_token: str) -> None:
    username = unique("grace")
    await create_user(anonymous, admin_token, username)
    assert await login(anonymous, username.upper())


async def test_a_wrong_password_and_an_unknown_user_get_the_same_401(
    anonymous: httpx.AsyncClient, admin_token: str
) -> None:
    username = unique("alan")
    await create_user(anonymous, admin_token, username)

    wrong_password = await anonymous.post(
        "/api/v2/auth/login", json={"username": username, "password": "nope"}
    )
    unknown_user = await anonymous.post(
        "/api/v2/auth/login", json={"username": unique("nobody"), "password": "x"}
    )

    assert wrong_password.status_code == unknown_user.status_code == 401
    assert wrong_password.json()["error"]["message"] == unknown_user.json()["error"]["message"]


async def test_repeated_failures_lock_the_account_for_a_while_with_429(
    anonymous: httpx.AsyncClient, admin_token: str, settings: Settings
) -> None:
    username = unique("mallory-target")
    await create_user(anonymous, admin_token, username)
    for _ in range(settings.login_failures_per_account):
        failed = await anonymous.post("/api/v2/auth/login", json={"username": username, "password": "guess"})
        assert failed.status_code == 401

    # now even the right password is turned away, without being checked
    blocked = await anonymous.post("/api/v2/auth/login", json={"username": username, "password": PASSWORD})

    assert blocked.status_code == 429, blocked.text
    assert blocked.json()["error"]["code"] == "too_many_requests"
    assert 1 <= int(blocked.headers["retry-after"]) <= 60
    # another account is not affected
    other = unique("bystander")
    await create_user(anonymous, admin_token, other)
    assert await login(anonymous, other)


@pytest.fixture
async def strict_app(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """qa_api allowing 3 login attempts per client address and minute."""
    app = create_app(settings.model_copy(update={"login_attempts_per_address": 3}))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://qa-api.test") as client:
            yield client


async def test_one_address_trying_many_accounts_is_limited(strict_app: httpx.AsyncClient) -> None:
    statuses = []
    for attempt in range(5):
        response = await strict_app.post(
            "/api/v2/auth/login", json={"username": f"user{attempt}", "password": "guess"}
        )
        statuses.append(response.status_code)

    assert statuses == [401, 401, 401, 429, 429]


async def test_a_disabled_user_cannot_log_in_and_their_tokens_stop_working(
    anonymous: httpx.AsyncClient, admin_token: str
) -> None:
    username = unique("leaver")
    await create_user(anonymous, admin_token, username)
    session = await login(anonymous, username)
    api_token = (
        await anonymous.post(
            "/api/v2/tokens", json={"name": "ci", "scopes": ["runs:read"]}, headers=bearer(session)
        )
    ).json()["access_token"]

    disabled = await anonymous.delete(f"/api/v2/users/{username}", headers=bearer(admin_token))

    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["disabled_at"] is not None
    for token in (session, api_token):
        me = await anonymous.get("/api/v2/auth/whoami", headers=bearer(token))
        assert me.status_code == 401, me.text
        assert "revoked" in me.json()["error"]["message"]
    again = await anonymous.post("/api/v2/auth/login", json={"username": username, "password": PASSWORD})
    assert again.status_code == 401


async def test_logout_revokes_the_session(anonymous: httpx.AsyncClient, admin_token: str) -> None:
    username = unique("brief")
    await create_user(anonymous, admin_token, username)
    session = await login(anonymous, username)

    out = await anonymous.post("/api/v2/auth/logout", headers=bearer(session))

    assert out.status_code == 200, out.text
    assert (await anonymous.get("/api/v2/auth/whoami", headers=bearer(session))).status_code == 401
