"""/api/v2: pagination, filters, status counts and metric aggregates computed in SQL, comparisons."""

from __future__ import annotations

import asyncio
import statistics
from typing import Any

import httpx
import pytest

from tests.qa_api.builders import PROJECT, output_report, post_output, run_outputs


def _sha(n: int) -> str:
    """A distinct sha per n, with a distinct prefix: 1111..., 2222..."""
    return (f"{n:x}" * 40)[:40]


async def _commits(client: httpx.AsyncClient, count: int, **overrides: Any) -> list[str]:
    shas = []
    for n in range(1, count + 1):
        sha = _sha(n)
        body = output_report(
            sha=sha, commit_authored_datetime=f"2026-11-{n:02d}T12:00:00+00:00", metrics={"psnr": float(n)}
        )
        await post_output(client, body | overrides)
        shas.append(sha)
    return shas


async def _all_pages(client: httpx.AsyncClient, path: str, params: dict[str, Any]) -> list[list[Any]]:
    pages, cursor = [], None
    while True:
        response = await client.get(path, params=params | ({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages


async def test_commits_are_listed_newest_first_page_by_page(client: httpx.AsyncClient) -> None:
    shas = await _commits(client, 7)

    pages = await _all_pages(client, "/api/v2/commits", {"project": PROJECT, "limit": 3})

    assert [len(page) for page in pages] == [3, 3, 1]
    assert [c["sha"] for page in pages for c in page] == shas[::-1]


async def test_a_commit_page_carries_status_counts_and_metric_aggregates(client: httpx.AsyncClient) -> None:
    values = [30.0, 35.0, 41.0, 50.0]
    await run_outputs(client, {f"{n}.jpg": {"psnr": v} for n, v in enumerate(values)})
    await post_output(client, output_report("bad.jpg", metrics={"psnr": 99.0, "is_failed": True}))
    await post_output(client, output_report("queued.jpg", stage="queued"))

    page = (await client.get("/api/v2/commits", params={"project": PROJECT, "metrics": "psnr"})).json()

    (batch,) = page["items"][0]["batches"]
    assert batch["outputs"] == {"queued": 1, "running": 0, "finished": 4, "failed": 1, "total": 6}
    assert batch["metrics"]["psnr"] == {
        "median": statistics.median(values),
        "mean": statistics.mean(values),
        "min": min(values),
        "max": max(values),
        "count": 4,
    }


async def test_metrics_default_to_the_project_summary_metrics(client: httpx.AsyncClient) -> None:
    await run_outputs(client, {"A.jpg": {"psnr": 1.0, "loss": 2.0, "other": 3.0}})

    page = (await client.get("/api/v2/commits", params={"project": PROJECT})).json()

    assert set(page["items"][0]["batches"][0]["metrics"]) == {"psnr", "loss"}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"branch": "release"}, [3, 2]),
        ({"tag": "v1.0"}, [2]),
        ({"committer": "BOB@"}, [3]),
        ({"since": "2026-11-02T00:00:00Z", "until": "2026-11-03T00:00:00Z"}, [2]),
        ({"batch": "nightly"}, [1]),
        ({"q": "flaky"}, [3]),
        ({"q": _sha(1)[:12]}, [1]),
    ],
)
async def test_commits_can_be_filtered(
    client: httpx.AsyncClient, params: dict[str, str], expected: list[int]
) -> None:
    await post_output(client, output_report(sha=_sha(1), commit_authored_datetime="2026-11-01T12:00:00Z"))
    await post_output(
        client,
        output_report(sha=_sha(1), batch_label="nightly", commit_authored_datetime="2026-11-01T12:00:00Z"),
    )
    await post_output(
        client,
        output_report(
            sha=_sha(2),
            commit_branch="release",
            commit_tag="v1.0",
            commit_authored_datetime="2026-11-02T12:00:00Z",
        ),
    )
    await post_output(
        client,
        output_report(
            sha=_sha(3),
            commit_branch="release",
            commit_committer_email="bob@example.com",
            commit_message="Fix a flaky 100% test",
            commit_authored_datetime="2026-11-03T12:00:00Z",
        ),
    )

    page = (await client.get("/api/v2/commits", params={"project": PROJECT} | params)).json()

    assert [c["sha"] for c in page["items"]] == [_sha(n) for n in expected]


async def test_a_listed_commit_shows_every_ref_it_was_seen_on_and_only_the_batch_asked_for(
    client: httpx.AsyncClient,
) -> None:
    await post_output(client, output_report(commit_branch="master"))
    await post_output(client, output_report(commit_branch="release", commit_tag="v1.0"))
    await post_output(client, output_report(batch_label="nightly"))

    listed = (await client.get("/api/v2/commits", params={"project": PROJECT})).json()["items"]
    only_nightly = (
        await client.get("/api/v2/commits", params={"project": PROJECT, "batch": "nightly"})
    ).json()["items"]

    (commit,) = listed
    assert (commit["branches"], commit["tags"]) == (["master", "release"], ["v1.0"])
    assert [batch["label"] for batch in commit["batches"]] == ["default", "nightly"]
    assert [batch["label"] for batch in only_nightly[0]["batches"]] == ["nightly"]
    assert only_nightly[0]["batches"][0]["outputs"]["total"] == 1


async def test_like_wildcards_in_search_text_are_taken_literally(client: httpx.AsyncClient) -> None:
    await post_output(client, output_report(commit_message="plain message"))

    page = (await client.get("/api/v2/commits", params={"project": PROJECT, "q": "%"})).json()

    assert page["items"] == []


async def test_a_batch_outputs_are_paginated_and_filtered_by_status(client: httpx.AsyncClient) -> None:
    await run_outputs(client, {f"{n}.jpg": {"psnr": float(n)} for n in range(5)})
    await post_output(client, output_report("failed.jpg", metrics={"is_failed": True}))
    commit = (await client.get("/api/v2/commits/master", params={"project": PROJECT})).json()
    batch_id = commit["batches"][0]["id"]

    pages = await _all_pages(client, f"/api/v2/batches/{batch_id}/outputs", {"limit": 2})
    failed = (await client.get(f"/api/v2/batches/{batch_id}/outputs", params={"status": "failed"})).json()

    assert [len(page) for page in pages] == [2, 2, 2]
    assert len({o["id"] for page in pages for o in page}) == 6
    assert [o["test_input"]["path"] for o in failed["items"]] == ["failed.jpg"]
    one = (await client.get(f"/api/v2/outputs/{failed['items'][0]['id']}")).json()
    assert one["status"] == "failed"
    assert one["output_dir"].endswith("/linux/failed")


async def test_projects_are_listed_with_their_activity(client: httpx.AsyncClient) -> None:
    for project in ("acme/vision", "acme/audio", "zeta/core", "acme/vision/sub/dir"):
        await post_output(client, output_report(project=project))

    pages = await _all_pages(client, "/api/v2/projects", {"limit": 3})
    acme = (await client.get("/api/v2/projects", params={"prefix": "acme/vision/"})).json()
    detail = (await client.get("/api/v2/projects/acme/vision/sub/dir")).json()

    assert [p["id"] for page in pages for p in page] == [
        "acme/audio",
        "acme/vision",
        "acme/vision/sub/dir",
        "zeta/core",
    ]
    assert all(p["total_commits"] == 1 for page in pages for p in page)
    assert [p["id"] for p in acme["items"]] == ["acme/vision/sub/dir"]
    assert detail["config"]["project"]["reference_branch"] == "master"
    assert detail["metric_definitions"]["summary_metrics"] == ["psnr", "loss"]


async def test_an_unknown_project_is_a_404(client: httpx.AsyncClient) -> None:
    for path in ("/api/v2/projects/nobody/here", "/api/v2/commits"):
        response = await client.get(path, params={"project": "nobody/here"})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


async def test_a_commit_compares_to_the_reference_branch(client: httpx.AsyncClient) -> None:
    await run_outputs(
        client,
        {"A.jpg": {"psnr": 40.0}, "B.jpg": {"psnr": 42.0}},
        sha=_sha(1),
        commit_authored_datetime="2026-11-01T00:00:00Z",
    )
    await run_outputs(
        client,
        {"A.jpg": {"psnr": 41.0}, "B.jpg": {"psnr": 45.0}},
        sha=_sha(2),
        commit_branch="feature",
        commit_authored_datetime="2026-11-02T00:00:00Z",
    )

    response = await client.get(
        "/api/v2/compare", params={"project": PROJECT, "commit": _sha(2)[:8], "metrics": "psnr,loss"}
    )

    assert response.status_code == 200
    comparison = response.json()
    assert (comparison["commit"]["sha"], comparison["reference"]["sha"]) == (_sha(2), _sha(1))
    psnr = comparison["metrics"]["psnr"]
    assert (psnr["commit"]["median"], psnr["reference"]["median"]) == (43.0, 41.0)
    assert psnr["median_delta"] == 2.0
    assert psnr["median_delta_percent"] == pytest.approx(2.0 / 41.0 * 100)
    assert comparison["metrics"]["loss"] == {
        "commit": None,
        "reference": None,
        "median_delta": None,
        "median_delta_percent": None,
    }


async def test_v1_browse_endpoints_answer_like_qa_board(client: httpx.AsyncClient) -> None:
    await _commits(client, 2)
    await post_output(client, output_report(sha=_sha(2), commit_branch="feature/x"))

    projects = (await client.get("/api/v1/projects")).json()
    project = (await client.get("/api/v1/project", params={"project": PROJECT})).json()
    branches = (await client.get("/api/v1/project/branches", params={"project": PROJECT})).json()
    commits = await client.get("/api/v1/commits/feature/x", params={"project": PROJECT, "limit": 1})
    saved = await client.post(
        "/api/v1/project/milestones/",
        json={"project": PROJECT, "key": "v1", "milestone": {"commit": _sha(1)}},
    )
    removed = await client.delete("/api/v1/project/milestones", params={"project": PROJECT, "key": "v1"})

    assert projects[PROJECT]["total_commits"] == 2
    assert project["qatools_config"]["project"]["name"] == PROJECT
    assert branches == ["feature/x", "master"]
    assert [c["id"] for c in commits.json()] == [_sha(2)]
    assert commits.headers["x-has-more"] == "false"
    assert saved.json() == {"v1": {"commit": _sha(1)}}
    assert removed.json() == {}


async def _psnr(client: httpx.AsyncClient) -> dict[str, Any]:
    page = (await client.get("/api/v2/commits", params={"project": PROJECT, "metrics": "psnr"})).json()
    batch: dict[str, Any] = page["items"][0]["batches"][0]
    return {"outputs": batch["outputs"], "psnr": batch["metrics"].get("psnr")}


async def test_statistics_follow_every_change_to_a_batch(client: httpx.AsyncClient) -> None:
    first, _ = await run_outputs(client, {"A.jpg": {"psnr": 10.0}, "B.jpg": {"psnr": 20.0}})
    assert (await _psnr(client))["psnr"]["mean"] == 15.0  # computed, then cached

    await post_output(client, output_report("C.jpg", metrics={"psnr": 60.0}))
    after_new_run = await _psnr(client)
    await client.put(f"/api/v1/output/{first['id']}/", json={"metrics": {"psnr": 40.0}})
    after_update = await _psnr(client)
    await post_output(client, output_report("C.jpg", stage="running"))
    after_rerun_starts = await _psnr(client)
    await client.delete(f"/api/v1/output/{first['id']}/")
    after_delete = await _psnr(client)

    assert (after_new_run["psnr"]["mean"], after_new_run["outputs"]["finished"]) == (30.0, 3)
    assert after_update["psnr"]["mean"] == 40.0
    assert (after_rerun_starts["psnr"]["mean"], after_rerun_starts["outputs"]["running"]) == (30.0, 1)
    assert (after_delete["psnr"]["mean"], after_delete["outputs"]["total"]) == (20.0, 2)


async def test_statistics_read_while_runs_are_reported_are_never_left_stale(
    client: httpx.AsyncClient,
) -> None:
    names = [f"{n}.jpg" for n in range(30)]

    async def report_all() -> None:
        for name in names:
            await post_output(client, output_report(name, metrics={"psnr": 1.0}))

    async def read_repeatedly() -> None:
        for _ in range(30):
            await client.get("/api/v2/commits", params={"project": PROJECT, "metrics": "psnr"})

    await post_output(client, output_report("seed.jpg", metrics={"psnr": 1.0}))
    await asyncio.gather(report_all(), read_repeatedly(), read_repeatedly())

    final = await _psnr(client)
    assert final["outputs"]["finished"] == 31
    assert final["psnr"]["count"] == 31
