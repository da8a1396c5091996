"""Nothing is lost: qa_api down for a while, the listener restarted with deliveries waiting, a failed
delivery sent again."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.webhook_listener import payloads
from tests.webhook_listener.conftest import Listener, running_listener, unique_project
from tests.webhook_listener.gitrepo import ZERO, Origin
from tests.webhook_listener.qa_api_server import QaApiProcess
from tests.webhook_listener.test_git_sync import history, push_branch, registered
from webhook_listener.config import Settings
from webhook_listener.deliveries import repository as inbox
from webhook_listener.workers import LOCK_NAMESPACE


async def wait_for(listener: Listener, project: str, predicate: Any) -> list[dict[str, Any]]:
    for _ in range(300):
        items = await listener.deliveries(project)
        if predicate(items):
            return items
        await asyncio.sleep(0.1)
    raise AssertionError(f"deliveries of {project}: {items}")


async def test_deliveries_wait_while_qa_api_is_down_and_nothing_is_lost(
    listener: Listener, origin: Origin, qa_api_up: QaApiProcess, qa_api_client: httpx.AsyncClient
) -> None:
    project = unique_project()
    await listener.register(project, origin.url)
    await listener.settled(project)
    qa_api_up.stop()

    pushed = origin.commits(3)
    origin.push("HEAD:refs/heads/main")
    response = await listener.gitlab(
        payloads.gitlab_push(project, ref="refs/heads/main", before=ZERO, after=pushed[-1], commits=pushed)
    )
    waiting = await wait_for(
        listener, project, lambda items: items[0]["attempts"] >= 2 and items[0]["state"] == "received"
    )
    qa_api_up.start()

    assert response.status_code == 202
    assert "unreachable" in waiting[0]["reason"]
    settled = await listener.settled(project)
    assert settled[0]["state"] == "done"
    assert await history(qa_api_client, project, branch="main") == list(reversed(pushed))


async def test_a_restarted_listener_resumes_the_deliveries_in_its_inbox(
    settings: Settings,
    admin_token: str,
    origin: Origin,
    qa_api_up: QaApiProcess,
    qa_api_client: httpx.AsyncClient,
) -> None:
    project = unique_project()
    async with running_listener(settings, admin_token) as first:
        await first.register(project, origin.url)
        await first.settled(project)
        qa_api_up.stop()
        pushed = origin.commits(2)
        origin.push("HEAD:refs/heads/main")
        body = payloads.gitlab_push(
            project, ref="refs/heads/main", before=ZERO, after=pushed[-1], commits=pushed
        )
        assert (await first.gitlab(body)).status_code == 202
        await wait_for(
            first, project, lambda items: items[0]["attempts"] >= 1 and items[0]["state"] == "received"
        )
    # as if the process had died while processing it
    engine = create_async_engine(settings.listener_database_url)
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE delivery SET state = 'processing' FROM repository "
                "WHERE repository.id = delivery.repository_id AND repository.path = :path"
            ),
            {"path": project},
        )
    await engine.dispose()
    qa_api_up.start()

    async with running_listener(settings, admin_token) as second:
        settled = await second.settled(project)

    assert [d["state"] for d in settled] == ["done", "done"]
    assert await history(qa_api_client, project, branch="main") == list(reversed(pushed))


async def test_a_delivery_left_processing_is_resumed_without_a_restart(
    settings: Settings, admin_token: str, origin: Origin, qa_api_client: httpx.AsyncClient
) -> None:
    project = unique_project()
    async with running_listener(settings, admin_token) as listener:
        await listener.register(project, origin.url)
        await listener.settled(project)
        pushed = origin.commit()
        origin.push("HEAD:refs/heads/main")
        # as if this process's database connection had failed as it finished the delivery: it is
        # `processing`, and nobody works on it
        engine = create_async_engine(settings.listener_database_url)
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO delivery (repository_id, provider, event, idempotency_key, headers, body,"
                    " state, attempts) SELECT id, 'gitlab', 'Push Hook', 'stuck', '{}', '\\x7b7d',"
                    " 'processing', 1 FROM repository WHERE path = :path"
                ),
                {"path": project},
            )
        await engine.dispose()

        settled = await wait_for(listener, project, lambda items: items[0]["state"] == "done")

    assert settled[0]["idempotency_key"] == "stuck"
    assert await history(qa_api_client, project, branch="main") == [pushed]


async def test_a_redelivered_failed_delivery_is_processed_again(
    listener: Listener, tmp_path: Path, qa_api_client: httpx.AsyncClient
) -> None:
    project = unique_project()
    later = tmp_path / "later"
    later.mkdir()
    # registered before the repository exists: every fetch fails
    await listener.register(project, (later / "origin.git").as_uri())
    body = payloads.gitlab_push(project, ref="refs/heads/main", before=ZERO, after="a" * 40, commits=[])
    assert (await listener.gitlab(body, key="delivery-1")).status_code == 202
    failed = await listener.settled(project)
    assert {d["state"] for d in failed} == {"failed"}
    assert all(d["reason"].startswith("git: ") for d in failed)

    origin = Origin(later)
    pushed = origin.commit()
    origin.push("HEAD:refs/heads/main")
    again = await listener.gitlab(
        payloads.gitlab_push(project, ref="refs/heads/main", before=ZERO, after=pushed, commits=[pushed]),
        key="delivery-1",
    )

    assert (again.status_code, again.json()["status"]) == (202, "requeued")
    settled = await listener.settled(project)
    redelivered = next(d for d in settled if d["idempotency_key"] == "delivery-1")
    assert (redelivered["state"], redelivered["reason"]) == ("done", None)
    assert redelivered["attempts"] == 1  # counted afresh: a redelivery gets every attempt again
    assert await history(qa_api_client, project, branch="main") == [pushed]


async def test_push_for_a_branch_delivered_twice_is_processed_once(
    listener: Listener, origin: Origin, qa_api_client: httpx.AsyncClient
) -> None:
    project = unique_project()
    await listener.register(project, origin.url)
    await listener.settled(project)
    origin.commit()
    await push_branch(listener, origin, project, "main")
    before = await listener.deliveries(project)

    body = payloads.gitlab_push(project, ref="refs/heads/main", before=ZERO, after=origin.head(), commits=[])
    key = next(d["idempotency_key"] for d in before if d["event"] == "Push Hook")
    duplicate = await listener.gitlab(body, key=key)

    assert (duplicate.status_code, duplicate.json()["status"]) == (200, "duplicate")
    assert await listener.deliveries(project) == before


async def test_a_repository_another_listener_is_working_on_waits_for_it(
    listener: Listener, settings: Settings, origin: Origin, qa_api_client: httpx.AsyncClient
) -> None:
    project = unique_project()
    created = await listener.register(project, origin.url)
    await listener.settled(project)
    other = await asyncpg.connect(settings.listener_database_url.replace("+asyncpg", ""))
    # what another listener process holds while it processes the repository
    await other.execute("SELECT pg_advisory_lock($1, $2)", LOCK_NAMESPACE, created["id"])
    try:
        pushed = origin.commit()
        origin.push("HEAD:refs/heads/main")
        body = payloads.gitlab_push(
            project, ref="refs/heads/main", before=ZERO, after=pushed, commits=[pushed]
        )
        assert (await listener.gitlab(body)).status_code == 202
        await asyncio.sleep(1.0)
        waiting = await listener.deliveries(project)
    finally:
        await other.execute("SELECT pg_advisory_unlock($1, $2)", LOCK_NAMESPACE, created["id"])
        await other.close()

    assert (waiting[0]["state"], waiting[0]["attempts"]) == ("received", 0)
    assert (await listener.settled(project))[0]["state"] == "done"
    assert await history(qa_api_client, project, branch="main") == [pushed]


def looked_again_in(caplog: pytest.LogCaptureFixture, repository_id: int) -> list[float]:
    """The waits the workers announced, each time they found the repository locked by another process."""
    waits: list[float] = []
    for record in caplog.records:
        if "another listener process" in record.msg and isinstance(record.args, tuple):
            locked, wait = record.args
            if locked == repository_id and isinstance(wait, float):
                waits.append(wait)
    return waits


async def test_a_repository_locked_elsewhere_is_tried_less_and_less_often_and_others_proceed(
    listener: Listener,
    settings: Settings,
    origin: Origin,
    tmp_path: Path,
    qa_api_client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="webhook_listener.workers")
    project = unique_project()
    created = await listener.register(project, origin.url)
    await listener.settled(project)
    (tmp_path / "other").mkdir()
    other_origin = Origin(tmp_path / "other")
    other_project = await registered(listener, other_origin)
    other = await asyncpg.connect(settings.listener_database_url.replace("+asyncpg", ""))
    await other.execute("SELECT pg_advisory_lock($1, $2)", LOCK_NAMESPACE, created["id"])
    try:
        pushed = origin.commit()
        origin.push("HEAD:refs/heads/main")
        body = payloads.gitlab_push(
            project, ref="refs/heads/main", before=ZERO, after=pushed, commits=[pushed]
        )
        assert (await listener.gitlab(body)).status_code == 202
        other_origin.commit()
        await push_branch(listener, other_origin, other_project, "main")  # done while the other waits
        for _ in range(300):
            waits = looked_again_in(caplog, created["id"])
            if len(waits) >= 4:
                break
            await asyncio.sleep(0.1)
        waiting = await listener.deliveries(project)
    finally:
        await other.execute("SELECT pg_advisory_unlock($1, $2)", LOCK_NAMESPACE, created["id"])
        await other.close()

    # looked at again after the poll interval, then twice as long each time, up to the retry cap
    poll, cap = settings.webhook_poll_seconds, settings.webhook_retry_max_seconds
    assert waits[:4] == [poll, poll * 2, poll * 4, cap]
    assert (waiting[0]["state"], waiting[0]["attempts"]) == ("received", 0)
    assert (await listener.settled(project))[0]["state"] == "done"
    assert await history(qa_api_client, project, branch="main") == [pushed]


async def sent_refs(settings: Settings, project: str) -> dict[tuple[str, str], str]:
    """What the listener recorded as accepted by qa_api: (kind, name) → sha."""
    engine = create_async_engine(settings.listener_database_url)
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT kind, name, sha FROM sent_ref JOIN repository ON repository.id = repository_id "
                "WHERE repository.path = :path"
            ),
            {"path": project},
        )
        recorded = {(kind, name): sha for kind, name, sha in rows}
    await engine.dispose()
    return recorded


async def test_a_project_qa_api_refuses_holds_back_only_its_own_updates(
    settings: Settings,
    admin_token: str,
    origin: Origin,
    qa_api: QaApiProcess,
    qa_api_client: httpx.AsyncClient,
) -> None:
    project = unique_project()
    # the listener may write to the repository's project and to its subproject b, not to subproject a
    allowed = [project, f"{project}/b"]
    token = qa_api.create_token(admin_token, name="partial", scopes=["commits:write"], projects=allowed)
    restricted = settings.model_copy(update={"webhook_qa_api_token": SecretStr(token)})
    both = origin.commit("a and b", {"a/qaboard.yaml": "", "b/qaboard.yaml": ""})
    origin.push("HEAD:refs/heads/main")
    origin.checkout("only-b", new=True)
    (origin.work / "a/qaboard.yaml").unlink()
    only_b = origin.commit("b only")
    origin.push("HEAD:refs/heads/only-b")

    async with running_listener(restricted, admin_token) as listener:
        await listener.register(project, origin.url)
        (failed,) = await listener.settled(project)
    recorded = await sent_refs(settings, project)

    assert await history(qa_api_client, project, branch="main") == [both]
    assert await history(qa_api_client, project, branch="only-b") == [only_b, both]
    assert await history(qa_api_client, f"{project}/b", branch="main") == [both]
    assert await history(qa_api_client, f"{project}/b", branch="only-b") == [only_b, both]
    assert failed["state"] == "failed"
    assert failed["reason"].startswith(
        f"qa_api refused {project}/a (branch main held back): qa_api answered 403"
    )
    # every project only-b concerns accepted it; main's update did not reach a
    assert recorded == {("branch", "only-b"): only_b}

    async with running_listener(settings, admin_token) as listener:
        reconciled = await listener.client.post(
            "/api/v2/reconcile", params={"project": project}, headers=listener.admin
        )
        assert reconciled.status_code == 202, reconciled.text
        settled = await listener.settled(project)

    assert settled[0]["state"] == "done"
    assert await history(qa_api_client, f"{project}/a", branch="main") == [both]
    assert await sent_refs(settings, project) == {("branch", "only-b"): only_b, ("branch", "main"): both}


async def test_finished_deliveries_past_the_retention_are_deleted_and_others_kept(
    settings: Settings, admin_token: str, origin: Origin
) -> None:
    old_project, new_project = unique_project(), unique_project()
    async with running_listener(settings, admin_token) as listener:
        for project in (old_project, new_project):
            await listener.register(project, origin.url)
            await listener.settled(project)
        engine = create_async_engine(settings.listener_database_url)
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "UPDATE delivery SET finished_at = now() - interval '31 days' FROM repository "
                    "WHERE repository.id = delivery.repository_id AND repository.path = :path"
                ),
                {"path": old_project},
            )
            purged = await inbox.purge_finished(connection, older_than=timedelta(days=30))
        await engine.dispose()

        assert purged >= 1
        assert await listener.deliveries(old_project) == []
        assert [d["state"] for d in await listener.deliveries(new_project)] == ["done"]
