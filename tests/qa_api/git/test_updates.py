"""What git says about a project (`POST /api/v2/git/updates`, the webhook listener's call) is what
users then read: commits with git's facts, branch histories as git has them, tags, deletions."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest

from tests.qa_api.builders import PROJECT, output_report, post_output
from tests.qa_api.identity.helpers import bearer, create_token

UPDATES = "/api/v2/git/updates"


def sha(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()  # noqa: S324 (a test sha, not a digest of secrets)


def commit(name: str, *parents: str, hour: int = 10, **fields: Any) -> dict[str, Any]:
    """A commit named `name` whose parents are named `parents`."""
    return {
        "sha": sha(name),
        "parents": [sha(parent) for parent in parents],
        "author_name": "Ada",
        "author_email": "ada@example.com",
        "committer_name": "Grace",
        "committer_email": "grace@example.com",
        "authored_at": f"2026-11-20T{hour:02d}:00:00+00:00",
        "committed_at": f"2026-11-20T{hour:02d}:30:00+00:00",
        "message": f"{name}\n\nbody of {name}",
    } | fields


def branch(name: str, tip: str | None, *, added: tuple[str, ...] = (), **fields: Any) -> dict[str, Any]:
    return {
        "kind": "branch",
        "name": name,
        "sha": sha(tip) if tip else None,
        "added": [sha(a) for a in added],
    } | fields


@pytest.fixture
async def git_client(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, admin_token: str
) -> httpx.AsyncClient:
    """The webhook listener: a token with `commits:write` only, on an empty database."""
    issued = await create_token(anonymous, admin_token, name="listener", scopes=["commits:write"])
    anonymous.headers.update(bearer(issued["access_token"]))
    return anonymous


@pytest.fixture(autouse=True)
def _forget_the_listener_token(anonymous: httpx.AsyncClient) -> Any:
    yield
    anonymous.headers.pop("Authorization", None)


async def apply(client: httpx.AsyncClient, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    response = await client.post(UPDATES, json={"project": PROJECT} | body)
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


async def history(client: httpx.AsyncClient, branch_name: str) -> list[str]:
    page = await client.get("/api/v2/commits", params={"project": PROJECT, "branch": branch_name})
    assert page.status_code == 200, page.text
    return [item["sha"] for item in page.json()["items"]]


async def test_a_push_records_commits_with_gits_facts_and_its_branch(
    client: httpx.AsyncClient, git_client: httpx.AsyncClient
) -> None:
    result = await apply(
        git_client,
        {
            "commits": [commit("a"), commit("b", "a", hour=11)],
            "refs": [branch("main", "b", added=("a", "b"))],
        },
    )

    assert result == {
        "project": PROJECT,
        "commits_created": 2,
        "commits_updated": 0,
        "refs_set": 1,
        "refs_deleted": 0,
    }
    read = (await client.get(f"/api/v1/commit/{sha('b')}", params={"project": PROJECT})).json()
    assert read["parents"] == [sha("a")]
    assert read["branches"] == ["main"]
    assert read["message"] == "b\n\nbody of b"
    assert read["committer_name"] == "Grace"
    assert read["batches"] == {}
    assert await history(client, "main") == [sha("b"), sha("a")]


async def test_the_same_updates_applied_twice_change_nothing(git_client: httpx.AsyncClient) -> None:
    body = {"commits": [commit("a")], "refs": [branch("main", "a", added=("a",))]}
    await apply(git_client, body)

    again = await apply(git_client, body)

    assert (again["commits_created"], again["commits_updated"], again["refs_set"]) == (0, 0, 0)


async def test_a_branch_history_is_every_commit_its_tip_reaches_through_merges(
    client: httpx.AsyncClient, git_client: httpx.AsyncClient
) -> None:
    # main: a - b ------ m ; feature: a - f1 - f2 merged into main at m; side: a - s (never merged)
    commits = [
        commit("a", hour=1),
        commit("b", "a", hour=2),
        commit("f1", "a", hour=3),
        commit("f2", "f1", hour=4),
        commit("s", "a", hour=5),
        commit("m", "b", "f2", hour=6),
    ]
    await apply(git_client, {"commits": commits, "refs": [branch("main", "m"), branch("side", "s")]})

    assert await history(client, "main") == [sha(n) for n in ("m", "f2", "f1", "b", "a")]
    assert await history(client, "side") == [sha("s"), sha("a")]


async def test_a_new_branch_from_an_old_commit_has_the_whole_history_below_it(
    client: httpx.AsyncClient, git_client: httpx.AsyncClient
) -> None:
    await apply(
        git_client,
        {"commits": [commit("a", hour=1), commit("b", "a", hour=2)], "refs": [branch("main", "b")]},
    )

    await apply(git_client, {"refs": [branch("release", "a")]})

    assert await history(client, "release") == [sha("a")]
    read = (await client.get(f"/api/v1/commit/{sha('a')}", params={"project": PROJECT})).json()
    assert read["branches"] == ["release"]


async def test_a_force_push_rewrites_the_history_and_takes_commits_off_the_branch(
    client: httpx.AsyncClient, git_client: httpx.AsyncClient
) -> None:
    await apply(
        git_client,
        {
            "commits": [commit("a", hour=1), commit("b", "a", hour=2)],
            "refs": [branch("main", "b", added=("a", "b"))],
        },
    )

    result = await apply(
        git_client,
        {
            "commits": [commit("b2", "a", hour=3)],
            "refs": [branch("main", "b2", added=("b2",), removed=[sha("b")], forced=True)],
        },
    )

    assert result["refs_set"] == 1
    assert await history(client, "main") == [sha("b2"), sha("a")]
    orphan = (await client.get(f"/api/v1/commit/{sha('b')}", params={"project": PROJECT})).json()
    assert orphan["branches"] == []


async def test_a_deleted_branch_is_gone_from_its_commits_and_from_the_branch_list(
    client: httpx.AsyncClient, git_client: httpx.AsyncClient
) -> None:
    await apply(
        git_client,
        {
            "commits": [commit("a"), commit("f", "a", hour=11)],
            "refs": [branch("main", "a"), branch("feature", "f")],
        },
    )

    result = await apply(git_client, {"refs": [branch("feature", None)]})

    assert result["refs_deleted"] == 1
    assert await history(client, "feature") == []
    branches = (await client.get("/api/v1/project/branches", params={"project": PROJECT})).json()
    assert branches == ["main"]


async def test_a_branch_name_reads_the_branch_tip_git_reports(
    client: httpx.AsyncClient, git_client: httpx.AsyncClient
) -> None:
    # the CI run of an older commit on main is authored later than the tip (clocks differ)
    await post_output(
        client, output_report(commit_branch="main", commit_authored_datetime="2026-11-30T00:00:00Z")
    )
    await apply(git_client, {"commits": [commit("tip", hour=1)], "refs": [branch("main", "tip")]})

    v1 = (await client.get("/api/v1/commit/main", params={"project": PROJECT})).json()
    v2 = (await client.get("/api/v2/commits/main", params={"project": PROJECT})).json()

    assert v1["id"] == v2["sha"] == sha("tip")


async def test_a_tag_points_at_its_commit(client: httpx.AsyncClient, git_client: httpx.AsyncClient) -> None:
    await apply(
        git_client, {"commits": [commit("a")], "refs": [{"kind": "tag", "name": "v1.0", "sha": sha("a")}]}
    )

    read = (await client.get(f"/api/v1/commit/{sha('a')}", params={"project": PROJECT})).json()
    tagged = (await client.get("/api/v2/commits", params={"project": PROJECT, "tag": "v1.0"})).json()

    assert read["tags"] == ["v1.0"]
    assert [item["sha"] for item in tagged["items"]] == [sha("a")]


async def test_git_fills_in_a_commit_the_cli_reported_first_and_its_runs_stay(
    client: httpx.AsyncClient, git_client: httpx.AsyncClient
) -> None:
    reported = await post_output(client, output_report())
    cli_sha = (await client.get("/api/v2/commits", params={"project": PROJECT})).json()["items"][0]["sha"]

    result = await apply(
        git_client,
        {"commits": [commit("x", sha=cli_sha, parents=[], message="Tune the denoiser\n\nfor real")]},
    )

    assert (result["commits_created"], result["commits_updated"]) == (0, 1)
    read = (await client.get(f"/api/v1/commit/{cli_sha}", params={"project": PROJECT})).json()
    assert read["message"] == "Tune the denoiser\n\nfor real"
    assert str(reported["id"]) in read["batches"]["default"]["outputs"]


async def test_the_reference_lookup_follows_git_history(
    client: httpx.AsyncClient, git_client: httpx.AsyncClient
) -> None:
    # CI ran on a feature branch's commit, later merged into master by a merge commit without results
    await post_output(client, output_report(commit_branch="feature"))
    run_sha = (await client.get("/api/v2/commits", params={"project": PROJECT})).json()["items"][0]["sha"]
    merge = commit("merge", hour=23, parents=[run_sha])
    await apply(git_client, {"commits": [merge], "refs": [branch("master", "merge")]})

    found = await client.get("/api/v1/commit/", params={"project": PROJECT, "branch": "master"})

    assert found.status_code == 200, found.text
    assert found.json()["id"] == run_sha


async def test_the_project_config_follows_the_reference_branch(
    client: httpx.AsyncClient, git_client: httpx.AsyncClient
) -> None:
    config = {"project": {"reference_branch": "main"}, "inputs": {"database": "/data/v2"}}
    await apply(git_client, {"commits": [commit("a", config=config)], "refs": [branch("main", "a")]})

    project = (await client.get("/api/v1/project", params={"project": PROJECT})).json()

    assert project["qatools_config"] == config


async def test_a_ref_to_a_commit_nobody_sent_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, git_client: httpx.AsyncClient
) -> None:
    response = await git_client.post(
        UPDATES, json={"project": PROJECT, "commits": [commit("a")], "refs": [branch("main", "ghost")]}
    )

    assert response.status_code == 422, response.text
    assert sha("ghost") in response.text
    assert (await client.get("/api/v2/projects")).json()["items"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"commits": [commit("a") | {"sha": "not-a-sha"}]},
        {"commits": [commit("a") | {"authored_at": "2026-11-20T10:00:00"}]},  # no time zone
        {"commits": [commit("a") | {"surprise": 1}]},
        {"refs": [branch("main", "a"), branch("main", "a")]},
        {"refs": [branch("main", None, added=("a",))]},
        {"refs": [{"kind": "note", "name": "x", "sha": sha("a")}]},
        {"refs": [branch("a\nb", "a")]},
        {"commits": [commit("a", config={"note": "a\u0000b"})]},
    ],
)
async def test_malformed_updates_are_refused(git_client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    error = (await apply(git_client, body, status=422))["error"]

    assert error["code"] == "invalid_input"


async def test_a_config_holding_nan_is_refused(
    client: httpx.AsyncClient, git_client: httpx.AsyncClient
) -> None:
    body = json.dumps({"project": PROJECT, "commits": [commit("a", config={"score": 1.0})]})

    response = await git_client.post(
        UPDATES, content=body.replace("1.0", "NaN"), headers={"content-type": "application/json"}
    )

    assert response.status_code == 422, response.text
    assert (await client.get("/api/v2/projects")).json()["items"] == []


async def test_an_octopus_merge_keeps_all_its_parents(
    client: httpx.AsyncClient, git_client: httpx.AsyncClient
) -> None:
    parents = [f"p{n}" for n in range(66)]  # Linux has a merge of 66 parents
    await apply(git_client, {"commits": [commit(p) for p in parents] + [commit("octopus", *parents)]})

    read = (await client.get(f"/api/v1/commit/{sha('octopus')}", params={"project": PROJECT})).json()

    assert read["parents"] == [sha(p) for p in parents]


async def test_only_a_commits_write_token_may_send_git_updates(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, admin_token: str
) -> None:
    body = {"project": PROJECT, "commits": [commit("a")]}
    scoped = await create_token(anonymous, admin_token, scopes=["commits:write"], projects=["other/*"])

    ci = await client.post(UPDATES, json=body)
    elsewhere = await anonymous.post(UPDATES, json=body, headers=bearer(scoped["access_token"]))
    nobody = await anonymous.post(UPDATES, json=body)

    assert (ci.status_code, elsewhere.status_code, nobody.status_code) == (403, 403, 401)
    assert (await client.get("/api/v2/projects")).json()["items"] == []
