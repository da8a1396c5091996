"""Receiving webhooks: authenticated before anything else, stored once, answered at once."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.webhook_listener import payloads
from tests.webhook_listener.conftest import SECRET, Listener, running_listener, unique_project
from tests.webhook_listener.gitrepo import ZERO, Origin
from webhook_listener.config import Settings
from webhook_listener.deliveries.providers import github_signature, github_signature_matches

SHA = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"


def test_githubs_published_signature_test_vector_passes() -> None:
    secret, body = "It's a Secret to Everybody", b"Hello, World!"
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

    assert github_signature(secret, body) == expected
    assert github_signature_matches(secret, body, expected)
    assert not github_signature_matches(secret, body + b" ", expected)


async def test_a_gitlab_push_with_the_right_token_is_stored_and_answered_202(
    listener: Listener, origin: Origin
) -> None:
    project = unique_project()
    await listener.register(project, origin.url)
    body = payloads.gitlab_push(project, ref="refs/heads/main", before=ZERO, after=SHA, commits=[SHA])

    response = await listener.gitlab(body, key="uuid-1")

    assert response.status_code == 202, response.text
    assert response.json()["status"] == "accepted"
    stored = [d for d in await listener.deliveries(project) if d["event"] == "Push Hook"]
    assert [d["idempotency_key"] for d in stored] == ["uuid-1"]


async def test_a_gitlab_push_with_a_bad_token_is_401(listener: Listener, origin: Origin) -> None:
    project = unique_project()
    await listener.register(project, origin.url)
    body = payloads.gitlab_push(project, ref="refs/heads/main", before=ZERO, after=SHA, commits=[SHA])

    response = await listener.gitlab(body, secret="not-the-secret")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert [d for d in await listener.deliveries(project) if d["event"] != "reconcile"] == []


async def test_a_push_for_an_unknown_repository_is_401(listener: Listener) -> None:
    body = payloads.gitlab_push(unique_project(), ref="refs/heads/main", before=ZERO, after=SHA, commits=[])

    response = await listener.gitlab(body)

    assert response.status_code == 401


async def test_a_github_push_is_accepted_with_its_signature_and_refused_without(
    listener: Listener, origin: Origin
) -> None:
    project = unique_project()
    await listener.register(project, origin.url, provider="github")
    body = payloads.github_push(project, ref="refs/heads/main", before=ZERO, after=SHA, commits=[SHA])

    signed = await listener.github(body)
    wrong = await listener.github(body, secret="another secret")
    raw = json.dumps(body).encode()
    tampered = await listener.client.post(
        "/webhooks/github",
        content=raw,
        headers={**payloads.github_headers(SECRET, raw), "X-Hub-Signature-256": "sha256=" + "0" * 64},
    )

    assert signed.status_code == 202, signed.text
    assert (wrong.status_code, tampered.status_code) == (401, 401)


async def test_a_large_github_push_is_checked_like_a_small_one(listener: Listener, origin: Origin) -> None:
    project = unique_project()
    await listener.register(project, origin.url, provider="github")
    body = payloads.github_push(project, ref="refs/heads/main", before=ZERO, after=SHA, commits=[SHA])
    body["head_commit"] = {"message": "x" * 200_000}  # past the size parsed and signed in a thread

    signed = await listener.github(body)
    wrong = await listener.github(body, secret="another secret")

    assert signed.status_code == 202, signed.text
    assert wrong.status_code == 401


async def test_deliveries_are_listed_by_provider(listener: Listener, origin: Origin) -> None:
    gitlab_project, github_project = unique_project(), unique_project()
    await listener.register(gitlab_project, origin.url)
    await listener.register(github_project, origin.url, provider="github")

    listed = await listener.client.get(
        "/api/v2/deliveries", params={"provider": "github", "limit": 500}, headers=listener.admin
    )

    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert {item["provider"] for item in items} == {"github"}
    assert github_project in {item["project"] for item in items}


async def test_events_other_than_pushes_are_answered_2xx_and_ignored(
    listener: Listener, origin: Origin
) -> None:
    project = unique_project()
    await listener.register(project, origin.url)
    body = payloads.gitlab_push(project, ref="refs/heads/main", before=ZERO, after=SHA, commits=[])

    merge_request = await listener.gitlab(body, event="Merge Request Hook")
    ping = await listener.client.post(
        "/webhooks/github", json={"zen": "Keep it logically awesome."}, headers={"X-GitHub-Event": "ping"}
    )

    assert (merge_request.status_code, merge_request.json()["status"]) == (200, "ignored")
    assert (ping.status_code, ping.json()["status"]) == (200, "pong")
    assert [d for d in await listener.deliveries(project) if d["event"] != "reconcile"] == []


async def test_a_body_over_the_cap_is_413(listener: Listener) -> None:
    response = await listener.client.post(
        "/webhooks/gitlab",
        content=b"{" + b" " * (300 * 1024) + b"}",
        headers=payloads.gitlab_headers(SECRET),
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_second_delivery_with_the_same_idempotency_key_is_not_stored_again(
    listener: Listener, origin: Origin
) -> None:
    project = unique_project()
    await listener.register(project, origin.url)
    body = payloads.gitlab_push(project, ref="refs/heads/main", before=ZERO, after=SHA, commits=[SHA])

    first = await listener.gitlab(body, key="same-key")
    second = await listener.gitlab(body, key="same-key")

    assert first.status_code == 202
    assert (second.status_code, second.json()["status"]) == (200, "duplicate")
    assert second.json()["delivery_id"] == first.json()["delivery_id"]
    stored = [d for d in await listener.deliveries(project) if d["event"] == "Push Hook"]
    assert len(stored) == 1


async def test_the_admin_api_needs_an_admin_token(
    listener: Listener, qa_api_client: httpx.AsyncClient
) -> None:
    created = await qa_api_client.post("/api/v2/tokens", json={"name": "reader", "scopes": ["runs:read"]})
    reader = {"Authorization": f"Bearer {created.json()['access_token']}"}

    anonymous = await listener.client.get("/api/v2/repositories")
    not_for_us = await listener.client.get("/api/v2/repositories", headers=reader)
    admin = await listener.client.get("/api/v2/repositories", headers=listener.admin)

    assert anonymous.status_code == 401
    assert not_for_us.status_code == 401  # a runs:read token is not issued for the listener
    assert admin.status_code == 200


async def test_repositories_are_listed_without_their_secret_and_can_be_removed(
    listener: Listener, origin: Origin
) -> None:
    project = unique_project()
    await listener.register(project, origin.url)

    listed = await listener.client.get("/api/v2/repositories", params={"limit": 500}, headers=listener.admin)
    removed = await listener.client.delete(f"/api/v2/repositories/gitlab/{project}", headers=listener.admin)
    again = await listener.client.delete(f"/api/v2/repositories/gitlab/{project}", headers=listener.admin)

    mine = [r for r in listed.json()["items"] if r["project"] == project]
    assert mine == [{**mine[0], "provider": "gitlab", "clone_url": origin.url}]
    assert SECRET not in listed.text
    assert removed.status_code == 200
    assert again.status_code == 404


async def test_a_clone_url_outside_the_allowed_prefixes_is_refused(listener: Listener) -> None:
    response = await listener.client.post(
        "/api/v2/repositories",
        json={"provider": "gitlab", "project": unique_project(), "secret": SECRET, "clone_url": "ftp://x/y"},
        headers=listener.admin,
    )

    assert response.status_code == 422


async def test_a_refused_file_clone_url_names_the_setting_that_allows_it(
    settings: Settings, admin_token: str
) -> None:
    without_files = settings.model_copy(update={"webhook_allow_file_urls": False})
    async with running_listener(without_files, admin_token) as listener:

        async def add(clone_url: str) -> httpx.Response:
            return await listener.client.post(
                "/api/v2/repositories",
                json={
                    "provider": "gitlab",
                    "project": unique_project(),
                    "secret": SECRET,
                    "clone_url": clone_url,
                },
                headers=listener.admin,
            )

        file_url = await add("file:///srv/git/repo.git")
        ftp_url = await add("ftp://x/y")

    assert file_url.status_code == 422
    assert "QAHUB_WEBHOOK_ALLOW_FILE_URLS=true" in file_url.json()["error"]["message"]
    assert ftp_url.status_code == 422
    assert "QAHUB_WEBHOOK_ALLOW_FILE_URLS" not in ftp_url.json()["error"]["message"]


async def test_credentials_in_a_clone_url_are_never_shown(listener: Listener) -> None:
    project = unique_project()
    # nothing listens on port 1: every fetch fails, and git's message names the URL
    await listener.register(project, "https://deploy:t0ken-in-url@127.0.0.1:1/group/repo.git")

    failed = await listener.settled(project)
    listed = await listener.client.get("/api/v2/repositories", params={"limit": 500}, headers=listener.admin)

    assert failed[0]["state"] == "failed"
    assert failed[0]["reason"].startswith("git: ")
    assert "t0ken-in-url" not in str(failed)
    assert "t0ken-in-url" not in listed.text
    assert "https://***@127.0.0.1:1/group/repo.git" in listed.text


@pytest.mark.parametrize("path", ["a\u0000b", "../../etc", "x" * 300])
async def test_a_push_naming_no_valid_project_is_401(listener: Listener, path: str) -> None:
    body = payloads.gitlab_push(unique_project(), ref="refs/heads/main", before=ZERO, after=SHA, commits=[])
    body["project"]["path_with_namespace"] = path

    response = await listener.gitlab(body)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    "change", [{"clone_url": "https://example.com/a\u0000.git"}, {"secret": "long enough \u0000 secret"}]
)
async def test_control_characters_in_a_registration_are_refused(
    listener: Listener, origin: Origin, change: dict[str, str]
) -> None:
    body = {"provider": "gitlab", "project": unique_project(), "secret": SECRET, "clone_url": origin.url}

    response = await listener.client.post("/api/v2/repositories", json=body | change, headers=listener.admin)

    assert response.status_code == 422, response.text


async def test_an_admin_token_restricted_to_projects_sees_and_reconciles_only_those(
    listener: Listener, origin: Origin, qa_api_client: httpx.AsyncClient
) -> None:
    mine, theirs = f"other/{unique_project()}", unique_project()
    await listener.register(mine, origin.url)
    await listener.register(theirs, origin.url)
    created = await qa_api_client.post(
        "/api/v2/tokens", json={"name": "other-admin", "scopes": ["admin"], "projects": ["other/*"]}
    )
    assert created.status_code == 201, created.text
    restricted = {"Authorization": f"Bearer {created.json()['access_token']}"}

    listed = await listener.client.get("/api/v2/repositories", params={"limit": 500}, headers=restricted)
    every_delivery = await listener.client.get("/api/v2/deliveries", headers=restricted)
    their_deliveries = await listener.client.get(
        "/api/v2/deliveries", params={"project": theirs}, headers=restricted
    )
    reconcile_all = await listener.client.post("/api/v2/reconcile", headers=restricted)
    reconcile_mine = await listener.client.post(
        "/api/v2/reconcile", params={"project": mine, "provider": "gitlab"}, headers=restricted
    )

    projects = {item["project"] for item in listed.json()["items"]}
    assert mine in projects
    assert theirs not in projects
    assert (every_delivery.status_code, their_deliveries.status_code) == (403, 403)
    assert (reconcile_all.status_code, reconcile_mine.status_code) == (403, 202)


async def test_an_admin_token_restricted_to_projects_registers_only_those(
    listener: Listener, origin: Origin, qa_api_client: httpx.AsyncClient
) -> None:
    created = await qa_api_client.post(
        "/api/v2/tokens", json={"name": "other-admin", "scopes": ["admin"], "projects": ["other/*"]}
    )
    assert created.status_code == 201, created.text
    restricted = {"Authorization": f"Bearer {created.json()['access_token']}"}
    body = {"provider": "gitlab", "secret": SECRET, "clone_url": origin.url}

    outside = await listener.client.post(
        "/api/v2/repositories", json={**body, "project": unique_project()}, headers=restricted
    )
    inside = await listener.client.post(
        "/api/v2/repositories", json={**body, "project": f"other/{unique_project()}"}, headers=restricted
    )

    assert outside.status_code == 403
    assert inside.status_code == 201, inside.text


async def test_every_route_answers_with_a_trailing_slash_without_redirecting(
    listener: Listener, origin: Origin
) -> None:
    gitlab_project, github_project = unique_project(), unique_project()
    client, admin = listener.client, listener.admin

    registered = await client.post(
        "/api/v2/repositories/",
        json={"provider": "gitlab", "project": gitlab_project, "secret": SECRET, "clone_url": origin.url},
        headers=admin,
    )
    await listener.register(github_project, origin.url, provider="github")
    gitlab_body = payloads.gitlab_push(
        gitlab_project, ref="refs/heads/main", before=ZERO, after=SHA, commits=[]
    )
    github_raw = json.dumps(
        payloads.github_push(github_project, ref="refs/heads/main", before=ZERO, after=SHA, commits=[])
    ).encode()
    gitlab = await client.post(
        "/webhooks/gitlab/", json=gitlab_body, headers=payloads.gitlab_headers(SECRET, event="Push Hook")
    )
    github = await client.post(
        "/webhooks/github/", content=github_raw, headers=payloads.github_headers(SECRET, github_raw)
    )
    listed = await client.get("/api/v2/repositories/", headers=admin)
    deliveries = await client.get("/api/v2/deliveries/", params={"project": gitlab_project}, headers=admin)
    reconcile = await client.post("/api/v2/reconcile/", params={"project": gitlab_project}, headers=admin)

    assert registered.status_code == 201, registered.text
    assert (gitlab.status_code, github.status_code) == (202, 202), (gitlab.text, github.text)
    assert listed.status_code == 200, listed.text
    assert gitlab_project in {item["project"] for item in listed.json()["items"]}
    assert deliveries.status_code == 200, deliveries.text
    assert "Push Hook" in {item["event"] for item in deliveries.json()["items"]}
    assert reconcile.status_code == 202, reconcile.text
