"""API tokens: shown once, never more than their owner holds, listed without their secret, revocable."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from qa_api.config import Settings
from tests.qa_api.identity.helpers import bearer, create_token, create_user, login, unique


async def test_a_token_is_shown_once_and_listed_without_its_secret(
    anonymous: httpx.AsyncClient, admin_token: str
) -> None:
    username = unique("owner")
    await create_user(anonymous, admin_token, username)
    session = await login(anonymous, username)

    issued = await create_token(anonymous, session, name="ci", scopes=["runs:write"], projects=["acme/*"])
    listed = await anonymous.get("/api/v2/tokens", headers=bearer(session))

    assert issued["token_type"] == "bearer"
    assert issued["scopes"] == ["runs:write"]
    assert issued["projects"] == ["acme/*"]
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["items"]
    assert item["id"] == issued["token_id"]
    assert item | {"id": None, "created_at": None, "expires_at": None} == {
        "id": None,
        "name": "ci",
        "owner": username,
        "kind": "api",
        "scopes": ["runs:write"],
        "projects": ["acme/*"],
        "created_at": None,
        "expires_at": None,
        "revoked_at": None,
        "active": True,
    }
    assert issued["access_token"] not in listed.text


async def test_a_token_expires_when_asked_and_no_later_than_the_server_allows(
    anonymous: httpx.AsyncClient, admin_token: str, settings: Settings
) -> None:
    now = datetime.now(UTC)
    one_day = await create_token(anonymous, admin_token, scopes=["runs:read"], expires_in_days=1)
    default = await create_token(anonymous, admin_token, scopes=["runs:read"])
    too_long = await anonymous.post(
        "/api/v2/tokens",
        json={"name": "forever", "scopes": ["runs:read"], "expires_in_days": settings.token_max_ttl_days + 1},
        headers=bearer(admin_token),
    )

    def days_left(issued: dict[str, str]) -> float:
        return (datetime.fromisoformat(issued["expires_at"]) - now) / timedelta(days=1)

    assert days_left(one_day) == pytest.approx(1, abs=0.01)
    assert days_left(default) == pytest.approx(settings.token_default_ttl_days, abs=0.01)
    absurd = await anonymous.post(
        "/api/v2/tokens",
        json={"name": "overflow", "scopes": ["runs:read"], "expires_in_days": 1e308},
        headers=bearer(admin_token),
    )
    assert too_long.status_code == 422
    assert absurd.status_code == 422, absurd.text
    assert f"at most {settings.token_max_ttl_days} days" in too_long.json()["error"]["message"]


async def test_an_api_token_cannot_mint_tokens(anonymous: httpx.AsyncClient, admin_token: str) -> None:
    username = unique("ci-bot")
    await create_user(anonymous, admin_token, username)
    token = await create_token(anonymous, await login(anonymous, username), scopes=["runs:write"])

    minted = await anonymous.post(
        "/api/v2/tokens",
        json={"name": "more", "scopes": ["runs:write"]},
        headers=bearer(token["access_token"]),
    )

    assert minted.status_code == 403
    assert "qahub login" in minted.json()["error"]["message"]


async def test_a_token_cannot_hold_more_than_its_owner(
    anonymous: httpx.AsyncClient, admin_token: str
) -> None:
    username = unique("limited")
    await create_user(
        anonymous, admin_token, username, scopes=["runs:read", "runs:write"], projects=["acme/*"]
    )
    session = await login(anonymous, username)

    async def attempt(**body: object) -> httpx.Response:
        return await anonymous.post("/api/v2/tokens", json={"name": "t", **body}, headers=bearer(session))

    more_scopes = await attempt(scopes=["admin"])
    every_project = await attempt(scopes=["runs:write"])
    other_group = await attempt(scopes=["runs:write"], projects=["other/*"])
    wider = await attempt(scopes=["runs:write"], projects=["*"])
    narrower = await attempt(scopes=["runs:write"], projects=["acme/vision", "acme/lab/*"])

    assert more_scopes.status_code == 403
    assert "does not hold admin" in more_scopes.json()["error"]["message"]
    assert every_project.status_code == 403
    assert other_group.status_code == 403
    assert wider.status_code == 403
    assert narrower.status_code == 201, narrower.text
    assert narrower.json()["projects"] == ["acme/lab/*", "acme/vision"]


async def test_only_admins_act_on_other_users_tokens(anonymous: httpx.AsyncClient, admin_token: str) -> None:
    alice, bob = unique("alice"), unique("bob")
    for name in (alice, bob):
        await create_user(anonymous, admin_token, name)
    alice_session, bob_session = await login(anonymous, alice), await login(anonymous, bob)
    alice_token = await create_token(anonymous, alice_session, scopes=["runs:read"])

    bob_revokes = await anonymous.delete(
        f"/api/v2/tokens/{alice_token['token_id']}", headers=bearer(bob_session)
    )
    bob_lists = await anonymous.get("/api/v2/tokens", params={"owner": alice}, headers=bearer(bob_session))
    bob_mints_for_alice = await anonymous.post(
        "/api/v2/tokens",
        json={"name": "x", "scopes": ["runs:read"], "owner": alice},
        headers=bearer(bob_session),
    )
    admin_lists = await anonymous.get("/api/v2/tokens", params={"owner": alice}, headers=bearer(admin_token))

    assert bob_revokes.status_code == bob_lists.status_code == bob_mints_for_alice.status_code == 403
    assert [item["id"] for item in admin_lists.json()["items"]] == [alice_token["token_id"]]
    assert (
        await anonymous.get("/api/v2/auth/whoami", headers=bearer(alice_token["access_token"]))
    ).status_code == 200


async def test_token_listing_is_paginated(anonymous: httpx.AsyncClient, admin_token: str) -> None:
    username = unique("many")
    await create_user(anonymous, admin_token, username)
    session = await login(anonymous, username)
    made = [
        (await create_token(anonymous, session, name=f"t{i}", scopes=["runs:read"]))["token_id"]
        for i in range(5)
    ]

    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await anonymous.get("/api/v2/tokens", params=params, headers=bearer(session))).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == list(reversed(made))


async def test_tokens_expired_for_a_month_are_forgotten_when_their_owner_gets_a_new_one(
    anonymous: httpx.AsyncClient, admin_token: str, database_url: str
) -> None:
    # the metrics broker's POST /auth makes a token per CI run: they must not pile up for ever
    username = unique("daily")
    await create_user(anonymous, admin_token, username)
    session = await login(anonymous, username)
    old, recent = [
        (await create_token(anonymous, session, name=name, scopes=["runs:read"], expires_in_days=1))[
            "token_id"
        ]
        for name in ("old", "recent")
    ]
    connection = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        for token_id, days in ((old, 31), (recent, 29)):
            await connection.execute(
                "UPDATE api_token SET expires_at = now() - make_interval(days => $2) WHERE id = $1",
                uuid.UUID(token_id),
                days,
            )
    finally:
        await connection.close()

    new = await create_token(anonymous, session, name="new", scopes=["runs:read"])
    listed = await anonymous.get(
        "/api/v2/tokens", params={"include_inactive": "true"}, headers=bearer(session)
    )

    assert listed.status_code == 200, listed.text
    assert [item["id"] for item in listed.json()["items"]] == [new["token_id"], recent]


async def test_users_are_managed_by_admins_only(anonymous: httpx.AsyncClient, admin_token: str) -> None:
    username = unique("plain")
    await create_user(anonymous, admin_token, username)
    session = await login(anonymous, username)

    creates = await anonymous.post(
        "/api/v2/users", json={"username": unique("x"), "password": "long enough pw"}, headers=bearer(session)
    )
    lists = await anonymous.get("/api/v2/users", headers=bearer(session))
    disables = await anonymous.delete("/api/v2/users/admin", headers=bearer(session))
    duplicate = await anonymous.post(
        "/api/v2/users",
        json={"username": username, "password": "long enough pw"},
        headers=bearer(admin_token),
    )
    own = await anonymous.get(f"/api/v2/users/{username}", headers=bearer(session))

    assert creates.status_code == lists.status_code == disables.status_code == 403
    assert duplicate.status_code == 409
    assert own.status_code == 200
    assert own.json()["admin"] is False
