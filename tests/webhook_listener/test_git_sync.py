"""Pushes to a real repository reach qa_api exactly as git has them, whatever the payload lists.

Each test pushes with the `git` command line to a bare repository served over `file://`, sends the
webhook GitLab or GitHub would send (real shas, fixture shapes), waits until the listener has processed
it, and reads the result through qa_api's API, as users do.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.webhook_listener import payloads
from tests.webhook_listener.conftest import Listener, unique_project
from tests.webhook_listener.gitrepo import ZERO, Origin


async def history(
    qa_api: httpx.AsyncClient, project: str, *, branch: str | None = None, tag: str | None = None
) -> list[str]:
    params: dict[str, Any] = {"project": project, "limit": 200}
    params.update({"branch": branch} if branch else {"tag": tag})
    page = await qa_api.get("/api/v2/commits", params=params)
    assert page.status_code == 200, page.text
    return [item["sha"] for item in page.json()["items"]]


async def read_commit(qa_api: httpx.AsyncClient, project: str, sha: str) -> dict[str, Any]:
    response = await qa_api.get(f"/api/v1/commit/{sha}", params={"project": project})
    assert response.status_code == 200, response.text
    read: dict[str, Any] = response.json()
    return read


async def registered(listener: Listener, origin: Origin, *, provider: str = "gitlab") -> str:
    """A new project for `origin`, once the listener's first reconciliation of it is done."""
    project = unique_project()
    await listener.register(project, origin.url, provider=provider)
    await listener.settled(project)
    return project


async def push_branch(
    listener: Listener,
    origin: Origin,
    project: str,
    branch: str,
    *,
    force: bool = False,
    provider: str = "gitlab",
) -> None:
    """Push the working clone's HEAD to `branch` and deliver the webhook, as the provider would."""
    before = origin.tip(f"refs/heads/{branch}")
    origin.push(f"HEAD:refs/heads/{branch}", force=force)
    after = origin.tip(f"refs/heads/{branch}")
    listed = origin.log(after) if before == ZERO else origin.log(f"{before}..{after}")
    await deliver(listener, project, f"refs/heads/{branch}", before, after, list(reversed(listed)), provider)


async def deliver(
    listener: Listener,
    project: str,
    ref: str,
    before: str,
    after: str,
    commits: list[str],
    provider: str = "gitlab",
) -> None:
    if provider == "gitlab":
        body = payloads.gitlab_push(
            project, ref=ref, before=before, after=after, commits=commits, tag=ref.startswith("refs/tags/")
        )
        response = await listener.gitlab(body)
    else:
        response = await listener.github(
            payloads.github_push(project, ref=ref, before=before, after=after, commits=commits)
        )
    assert response.status_code == 202, response.text
    settled = await listener.settled(project)
    assert [d["state"] for d in settled] == ["done"] * len(settled), settled


async def test_a_push_of_one_commit_reaches_qa_api_with_gits_facts(
    listener: Listener, origin: Origin, qa_api_client: httpx.AsyncClient
) -> None:
    project = await registered(listener, origin)
    first = origin.commit("first\n\nwith a body")
    await push_branch(listener, origin, project, "main")

    second = origin.commit("second")
    await push_branch(listener, origin, project, "main")

    read = await read_commit(qa_api_client, project, second)
    assert read["parents"] == [first]
    assert read["message"] == "second\n"
    v2 = (await qa_api_client.get(f"/api/v2/commits/{second}", params={"project": project})).json()
    assert (v2["author_name"], v2["author_email"]) == ("Ada Lovelace", "ada@example.com")
    assert (v2["committer_name"], v2["committer_email"]) == ("Grace Hopper", "grace@example.com")
    assert read["branches"] == ["main"]
    assert (await read_commit(qa_api_client, project, first))["message"] == "first\n\nwith a body\n"
    assert await history(qa_api_client, project, branch="main") == [second, first]


async def test_a_push_of_50_commits_sends_them_all_though_the_payload_lists_20(
    listener: Listener, origin: Origin, qa_api_client: httpx.AsyncClient
) -> None:
    project = await registered(listener, origin)
    base = origin.commit()
    await push_branch(listener, origin, project, "main")

    pushed = origin.commits(50)
    await push_branch(listener, origin, project, "main")

    assert await history(qa_api_client, project, branch="main") == [*reversed(pushed), base]


async def test_a_new_branch_brings_its_commits_and_has_the_history_below_it(
    listener: Listener, origin: Origin, qa_api_client: httpx.AsyncClient
) -> None:
    project = await registered(listener, origin, provider="github")
    base = origin.commit()
    await push_branch(listener, origin, project, "main", provider="github")
    origin.checkout("feature", new=True)

    work = origin.commits(2)
    await push_branch(listener, origin, project, "feature", provider="github")

    assert await history(qa_api_client, project, branch="feature") == [work[1], work[0], base]
    assert (await read_commit(qa_api_client, project, work[0]))["branches"] == ["feature"]
    assert await history(qa_api_client, project, branch="main") == [base]


async def test_a_deleted_branch_is_removed(
    listener: Listener, origin: Origin, qa_api_client: httpx.AsyncClient
) -> None:
    project = await registered(listener, origin)
    origin.commit()
    await push_branch(listener, origin, project, "main")
    origin.checkout("feature", new=True)
    work = origin.commit()
    await push_branch(listener, origin, project, "feature")

    origin.push(":refs/heads/feature")
    await deliver(listener, project, "refs/heads/feature", work, ZERO, [])

    assert await history(qa_api_client, project, branch="feature") == []
    assert (await read_commit(qa_api_client, project, work))["branches"] == []


async def test_a_force_push_is_recorded_and_takes_the_old_commits_off_the_branch(
    listener: Listener, origin: Origin, qa_api_client: httpx.AsyncClient
) -> None:
    project = await registered(listener, origin)
    base = origin.commit()
    dropped = origin.commits(2)
    await push_branch(listener, origin, project, "main")

    origin.reset_hard(base)
    rewritten = origin.commit("rewritten")
    await push_branch(listener, origin, project, "main", force=True)

    assert await history(qa_api_client, project, branch="main") == [rewritten, base]
    assert (await read_commit(qa_api_client, project, dropped[1]))["branches"] == []


async def test_annotated_and_lightweight_tags_point_at_their_commits_until_deleted(
    listener: Listener, origin: Origin, qa_api_client: httpx.AsyncClient
) -> None:
    project = await registered(listener, origin)
    released = origin.commit()
    await push_branch(listener, origin, project, "main")
    annotated = origin.tag("v1.0", message="release 1.0")
    patched = origin.commit()
    await push_branch(listener, origin, project, "main")
    origin.tag("v1.1")

    origin.push("refs/tags/v1.0")
    await deliver(listener, project, "refs/tags/v1.0", ZERO, annotated, [])
    origin.push("refs/tags/v1.1")
    await deliver(listener, project, "refs/tags/v1.1", ZERO, patched, [])

    assert annotated != released  # the tag object, which the listener dereferences
    assert await history(qa_api_client, project, tag="v1.0") == [released]
    assert await history(qa_api_client, project, tag="v1.1") == [patched]
    assert (await read_commit(qa_api_client, project, patched))["tags"] == ["v1.1"]

    origin.push(":refs/tags/v1.1")
    await deliver(listener, project, "refs/tags/v1.1", patched, ZERO, [])

    assert await history(qa_api_client, project, tag="v1.1") == []
    assert (await read_commit(qa_api_client, project, patched))["tags"] == []


async def test_subprojects_get_the_commits_that_have_them_with_the_merged_config(
    listener: Listener, origin: Origin, qa_api_client: httpx.AsyncClient
) -> None:
    project = await registered(listener, origin)
    before = origin.commit(
        "no subproject yet", {"qaboard.yaml": "project:\n  name: repo\noutputs:\n  metrics: [psnr]\n"}
    )
    await push_branch(listener, origin, project, "main")

    config = origin.commit(
        "subprojects",
        {
            "algo/qaboard.yaml": "inputs:\n  database: /data/algo\n  types: {default: image}\n",
            "algo/fast/qaboard.yaml": "inputs:\n  database: /data/fast\noutputs:\n  metrics: [super, ssim]\n",
            "algo/fast/empty/qaboard.yaml": "",
        },
    )
    await push_branch(listener, origin, project, "main")

    fast = await read_commit(qa_api_client, f"{project}/algo/fast", config)
    assert fast["data"]["qatools_config"] == {
        "project": {"name": "repo"},
        "inputs": {"database": "/data/fast", "types": {"default": "image"}},
        "outputs": {"metrics": ["psnr", "ssim"]},
    }
    assert fast["branches"] == ["main"]
    algo = await read_commit(qa_api_client, f"{project}/algo", config)
    assert algo["data"]["qatools_config"]["inputs"]["database"] == "/data/algo"
    assert (await read_commit(qa_api_client, f"{project}/algo/fast/empty", config))["branches"] == ["main"]
    root = await read_commit(qa_api_client, project, before)
    assert root["data"]["qatools_config"] == {"project": {"name": "repo"}, "outputs": {"metrics": ["psnr"]}}
    missing = await qa_api_client.get(f"/api/v1/commit/{before}", params={"project": f"{project}/algo"})
    assert missing.status_code == 404


async def test_a_reconciliation_sends_what_a_lost_webhook_would_have(
    listener: Listener, origin: Origin, qa_api_client: httpx.AsyncClient
) -> None:
    project = await registered(listener, origin)
    origin.commit()
    await push_branch(listener, origin, project, "main")
    lost = origin.commits(3)
    origin.push("HEAD:refs/heads/main")  # GitLab sends no hook for a push touching more than 3 refs

    response = await listener.client.post(
        "/api/v2/reconcile", params={"project": project}, headers=listener.admin
    )
    assert response.status_code == 202, response.text
    await listener.settled(project)

    assert (await history(qa_api_client, project, branch="main"))[:3] == list(reversed(lost))
