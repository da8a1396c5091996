"""GET /api/v2/compare on real PostgreSQL: outputs matched and judged, the reference chosen and said,
pages and filters, and bad input answered in the error envelope."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from qa_api.commits.repository import ANCESTRY_DEPTH
from qa_api.config import Settings
from tests.qa_api.builders import PROJECT, envelope, output_report, post_output, run_outputs
from tests.qa_api.identity.helpers import bearer, create_token


def _sha(n: int) -> str:
    return (f"{n:x}" * 40)[:40]


async def _commit(
    client: httpx.AsyncClient,
    n: int,
    metrics_by_input: dict[str, dict[str, Any]],
    *,
    parent: int | None = None,
    parents: list[int] | None = None,
    branch: str = "master",
    **overrides: Any,
) -> str:
    """Report finished runs on commit `n` (authored on day `n`), a child of commit `parent` (or of
    `parents`, in order)."""
    sha = _sha(n)
    await run_outputs(
        client,
        metrics_by_input,
        sha=sha,
        commit_branch=branch,
        commit_parents=[_sha(p) for p in parents] if parents else [_sha(parent)] if parent else [],
        commit_authored_datetime=f"2026-11-{n:02d}T12:00:00+00:00",
        **overrides,
    )
    return sha


async def _compare(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/v2/compare", params={"project": PROJECT} | params)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _by_input(comparison: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {output["input_path"]: output for output in comparison["outputs"]}


async def test_each_output_is_compared_with_the_reference_output_of_its_input(
    client: httpx.AsyncClient,
) -> None:
    await _commit(
        client,
        1,
        {"A.jpg": {"psnr": 40.0, "loss": 1.0}, "B.jpg": {"psnr": 40.0}, "C.jpg": {"psnr": 30.0}},
    )
    await _commit(
        client,
        2,
        {"A.jpg": {"psnr": 44.0, "loss": 1.0}, "B.jpg": {"psnr": 36.0}, "D.jpg": {"psnr": 50.0}},
        parent=1,
        branch="feature",
    )

    comparison = await _compare(client, commit=_sha(2), metrics="psnr,loss")
    outputs = _by_input(comparison)

    assert (comparison["reference"]["sha"], comparison["reference_reason"]) == (_sha(1), "fork_point")
    assert (comparison["reference_batch"], comparison["reference_project"]) == ("default", PROJECT)
    assert list(outputs) == ["A.jpg", "B.jpg", "C.jpg", "D.jpg"]
    a = outputs["A.jpg"]
    assert a["verdict"] == "better"
    assert a["metrics"]["psnr"] == {
        "commit": 44.0,
        "reference": 40.0,
        "delta": 4.0,
        "delta_percent": 10.0,
        "verdict": "better",
    }
    assert a["metrics"]["loss"]["verdict"] == "same"
    assert (a["mismatch"], a["failure"], a["platform"], a["configurations"]) == ([], None, "linux", [])
    assert a["commit_output_id"] is not None
    assert a["reference_output_id"] is not None
    assert outputs["B.jpg"]["verdict"] == "worse"
    assert (outputs["C.jpg"]["verdict"], outputs["C.jpg"]["commit_output_id"]) == ("missing", None)
    assert (outputs["D.jpg"]["verdict"], outputs["D.jpg"]["reference_output_id"]) == ("new", None)
    assert comparison["summary"]["psnr"] == {
        "better": 1,
        "worse": 1,
        "same": 0,
        "new": 1,
        "missing": 1,
        # medians 44 against 40
        "verdict": "better",
    }
    assert comparison["summary"]["loss"] == {
        "better": 0,
        "worse": 0,
        "same": 1,
        "new": 0,
        "missing": 0,
        "verdict": "same",
    }
    # what clients read before stays
    assert comparison["metrics"]["psnr"]["median_delta"] == 4.0
    assert comparison["commit"]["sha"] == _sha(2)


async def test_the_closest_run_of_an_input_is_its_match_and_the_differences_are_said(
    client: httpx.AsyncClient,
) -> None:
    for platform, configurations in [("linux", ["base"]), ("windows", ["fast"]), ("linux", ["fast", "hdr"])]:
        await post_output(
            client,
            output_report(
                metrics={"psnr": 40.0}, sha=_sha(1), platform=platform, configurations=configurations
            ),
        )
    await post_output(
        client,
        output_report(
            metrics={"psnr": 40.0},
            sha=_sha(2),
            commit_parents=[_sha(1)],
            platform="windows",
            configurations=["fast", "hdr"],
        ),
    )

    (output,) = (await _compare(client, commit=_sha(2), metrics="psnr", verdict="same"))["outputs"]
    windows = (await client.get(f"/api/v1/output/{output['reference_output_id']}/")).json()

    assert windows["platform"] == "windows"
    assert output["mismatch"] == ["configurations"]


async def test_a_commit_of_the_reference_branch_is_compared_with_its_nearest_ancestor_with_results(
    client: httpx.AsyncClient,
) -> None:
    await _commit(client, 1, {"A.jpg": {"psnr": 40.0}})
    # the parent has no finished results: skipped
    await post_output(
        client,
        output_report(
            stage="running",
            sha=_sha(2),
            commit_parents=[_sha(1)],
            commit_authored_datetime="2026-11-02T00:00Z",
        ),
    )
    await _commit(client, 3, {"A.jpg": {"psnr": 41.0}}, parent=2)
    # newer, with results, but not an ancestor
    await _commit(client, 4, {"A.jpg": {"psnr": 10.0}})

    comparison = await _compare(client, commit=_sha(3), metrics="psnr")

    assert (comparison["reference"]["sha"], comparison["reference_reason"]) == (
        _sha(1),
        "previous_on_reference_branch",
    )


@pytest.fixture
async def git_client(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, admin_token: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The webhook listener: a token with `commits:write` only."""
    issued = await create_token(anonymous, admin_token, name="listener", scopes=["commits:write"])
    anonymous.headers.update(bearer(issued["access_token"]))
    yield anonymous
    anonymous.headers.pop("Authorization", None)


def _git_commit(n: int, *parents: int) -> dict[str, Any]:
    when = f"2026-11-{n:02d}T12:00:00+00:00"
    return {
        "sha": _sha(n),
        "parents": [_sha(parent) for parent in parents],
        "author_name": "Ada",
        "author_email": "ada@example.com",
        "committer_name": "Ada",
        "committer_email": "ada@example.com",
        "authored_at": when,
        "committed_at": when,
        "message": f"commit {n}",
    }


async def _git_master(git_client: httpx.AsyncClient, tip: int, commits: list[dict[str, Any]]) -> None:
    """Git says master's tip is commit `tip`: every commit it reaches is then on master."""
    response = await git_client.post(
        "/api/v2/git/updates",
        json={
            "project": PROJECT,
            "commits": commits,
            "refs": [{"kind": "branch", "name": "master", "sha": _sha(tip), "added": []}],
        },
    )
    assert response.status_code == 200, response.text


async def test_a_merge_commit_is_compared_with_its_first_parent_not_the_tip_it_merged(
    client: httpx.AsyncClient, git_client: httpx.AsyncClient
) -> None:
    await _commit(client, 1, {"A.jpg": {"psnr": 40.0}})
    # a feature commit that regressed, then merged into master: git makes it part of master's history
    await _commit(client, 2, {"A.jpg": {"psnr": 30.0}}, parent=1, branch="feature")
    await _commit(client, 3, {"A.jpg": {"psnr": 30.0}}, parents=[1, 2])
    await _git_master(git_client, 3, [_git_commit(1), _git_commit(2, 1), _git_commit(3, 1, 2)])

    comparison = await _compare(client, commit=_sha(3), metrics="psnr")
    verdict = await client.get("/api/v2/verdict", params={"project": PROJECT, "commit": _sha(3)})

    assert (comparison["reference"]["sha"], comparison["reference_reason"]) == (
        _sha(1),
        "previous_on_reference_branch",
    )
    assert verdict.status_code == 200, verdict.text
    assert (verdict.json()["status"], verdict.json()["reference"]["sha"]) == ("fail", _sha(1))


async def test_the_default_reference_is_the_nearest_with_results_in_the_first_parent_history(
    client: httpx.AsyncClient, git_client: httpx.AsyncClient
) -> None:
    await _commit(client, 1, {"A.jpg": {"psnr": 40.0}})
    # the first parent has no finished results; the merged feature tip has, one generation nearer
    await post_output(
        client,
        output_report(
            stage="running",
            sha=_sha(2),
            commit_parents=[_sha(1)],
            commit_authored_datetime="2026-11-02T12:00:00+00:00",
        ),
    )
    await _commit(client, 3, {"A.jpg": {"psnr": 10.0}}, parent=1, branch="feature")
    await _commit(client, 4, {"A.jpg": {"psnr": 40.0}}, parents=[2, 3])
    await _git_master(
        git_client, 4, [_git_commit(1), _git_commit(2, 1), _git_commit(3, 1), _git_commit(4, 2, 3)]
    )

    comparison = await _compare(client, commit=_sha(4), metrics="psnr")

    assert (comparison["reference"]["sha"], comparison["reference_reason"]) == (
        _sha(1),
        "previous_on_reference_branch",
    )


async def test_without_known_history_the_reference_is_the_latest_commit_with_results_on_the_branch(
    client: httpx.AsyncClient,
) -> None:
    await _commit(client, 1, {"A.jpg": {"psnr": 40.0}})
    await _commit(client, 2, {"A.jpg": {"psnr": 41.0}})
    await _commit(client, 3, {"A.jpg": {"psnr": 42.0}}, branch="feature")

    comparison = await _compare(client, commit=_sha(3), metrics="psnr")

    assert (comparison["reference"]["sha"], comparison["reference_reason"]) == (
        _sha(2),
        "latest_on_reference_branch",
    )


async def test_without_known_history_the_reference_is_never_a_commit_authored_after_it(
    client: httpx.AsyncClient,
) -> None:
    await _commit(client, 1, {"A.jpg": {"psnr": 40.0}})
    await _commit(client, 2, {"A.jpg": {"psnr": 42.0}}, branch="feature")
    await _commit(client, 3, {"A.jpg": {"psnr": 41.0}})

    comparison = await _compare(client, commit=_sha(2), metrics="psnr")

    assert (comparison["reference"]["sha"], comparison["reference_reason"]) == (
        _sha(1),
        "latest_on_reference_branch",
    )


async def test_a_first_batch_has_no_default_reference_not_itself(client: httpx.AsyncClient) -> None:
    await _commit(client, 1, {"A.jpg": {"psnr": 40.0}})

    comparison = await client.get(
        "/api/v2/compare", params={"project": PROJECT, "commit": _sha(1), "metrics": "psnr"}
    )
    verdict = await client.get("/api/v2/verdict", params={"project": PROJECT, "commit": _sha(1)})

    assert comparison.status_code == verdict.status_code == 404, (comparison.text, verdict.text)
    message = comparison.json()["error"]["message"]
    assert verdict.json()["error"]["message"] == message
    assert f"No reference for commit '{_sha(1)}'" in message
    assert "before it on branch 'master' has finished results in batch 'default'" in message


async def test_the_reference_can_be_a_commit_or_a_milestone_and_another_batch(
    client: httpx.AsyncClient,
) -> None:
    await _commit(client, 1, {"A.jpg": {"psnr": 30.0}}, batch_label="@alice| tweak")
    await _commit(client, 2, {"A.jpg": {"psnr": 40.0}}, parent=1)
    saved = await client.post(
        "/api/v1/project/milestones/",
        json={"project": PROJECT, "key": "v1.0", "milestone": {"commit": _sha(1), "batch": "@alice| tweak"}},
    )
    assert saved.status_code == 200, saved.text

    explicit = await _compare(client, commit=_sha(2), reference=_sha(1)[:7], reference_batch="@alice| tweak")
    milestone = await _compare(client, commit=_sha(2), reference="v1.0")

    for comparison in (explicit, milestone):
        assert comparison["reference"]["sha"] == _sha(1)
        assert comparison["reference_batch"] == "@alice| tweak"
        assert comparison["reference"]["batches"][0]["label"] == "@alice| tweak"
        assert comparison["outputs"][0]["metrics"]["psnr"]["reference"] == 30.0
    assert (explicit["reference_reason"], milestone["reference_reason"]) == ("explicit", "milestone")


async def test_the_reference_can_be_in_another_project(client: httpx.AsyncClient) -> None:
    await _commit(client, 1, {"A.jpg": {"psnr": 30.0}}, project="acme/vision-legacy")
    await _commit(client, 2, {"A.jpg": {"psnr": 40.0}})

    comparison = await _compare(
        client, commit=_sha(2), reference_project="acme/vision-legacy", metrics="psnr"
    )

    assert comparison["reference_project"] == "acme/vision-legacy"
    assert comparison["reference"]["project_id"] == "acme/vision-legacy"
    assert comparison["outputs"][0]["verdict"] == "better"


async def test_failed_runs_are_judged_against_runs_that_did_not_fail(client: httpx.AsyncClient) -> None:
    await _commit(
        client,
        1,
        {
            "A.jpg": {"psnr": 40.0},
            "B.jpg": {"psnr": 40.0, "is_failed": True},
            "C.jpg": {"is_failed": True},
        },
    )
    await _commit(
        client,
        2,
        {"A.jpg": {"is_failed": True}, "B.jpg": {"psnr": 20.0}, "C.jpg": {"is_failed": True}},
        parent=1,
    )

    outputs = _by_input(await _compare(client, commit=_sha(2), metrics="psnr"))

    assert (outputs["A.jpg"]["verdict"], outputs["A.jpg"]["failure"]) == ("worse", "commit")
    assert (outputs["B.jpg"]["verdict"], outputs["B.jpg"]["failure"]) == ("better", "reference")
    assert (outputs["C.jpg"]["verdict"], outputs["C.jpg"]["failure"]) == ("same", "both")


async def test_a_failed_run_is_the_verdict_of_every_metric_either_side_has_in_the_output_and_the_counts(
    client: httpx.AsyncClient,
) -> None:
    await _commit(client, 1, {"A.jpg": {"psnr": 40.0, "loss": 1.0}})
    # a failed run with no metrics, and one with some of them
    await _commit(client, 2, {"A.jpg": {"is_failed": True}}, parent=1)
    await _commit(client, 3, {"A.jpg": {"is_failed": True, "psnr": 40.0}}, parent=1)

    for n in (2, 3):
        comparison = await _compare(client, commit=_sha(n), metrics="psnr,loss")
        filtered = await _compare(client, commit=_sha(n), metrics="psnr,loss", metric="psnr", verdict="worse")

        (output,) = comparison["outputs"]
        assert {name: metric["verdict"] for name, metric in output["metrics"].items()} == {
            "psnr": "worse",
            "loss": "worse",
        }
        for name in ("psnr", "loss"):
            counted = {verdict: comparison["summary"][name][verdict] for verdict in ("worse", "missing")}
            assert counted == {"worse": 1, "missing": 0}, (n, name)
        assert [item["input_path"] for item in filtered["outputs"]] == ["A.jpg"]


async def test_a_tolerance_in_the_metric_definitions_widens_the_band_of_same(
    client: httpx.AsyncClient,
) -> None:
    definitions = {"available_metrics": {"psnr": {"smaller_is_better": False, "tolerance": 0.1}}}
    await _commit(client, 1, {"A.jpg": {"psnr": 40.0}, "B.jpg": {"psnr": 40.0}}, qaboard_metrics=definitions)
    await _commit(
        client, 2, {"A.jpg": {"psnr": 43.0}, "B.jpg": {"psnr": 45.0}}, parent=1, qaboard_metrics=definitions
    )

    outputs = _by_input(await _compare(client, commit=_sha(2), metrics="psnr"))

    assert (outputs["A.jpg"]["verdict"], outputs["B.jpg"]["verdict"]) == ("same", "better")


async def test_outputs_are_paged_in_a_stable_order_and_filtered_while_the_summary_covers_the_batch(
    client: httpx.AsyncClient,
) -> None:
    reference = {f"{n:02d}.jpg": {"psnr": 40.0} for n in range(12)}
    await _commit(client, 1, reference)
    # even inputs better, odd ones worse; one input without psnr
    mine = {name: {"psnr": 45.0 if n % 2 == 0 else 30.0} for n, name in enumerate(reference)}
    mine["11.jpg"] = {"loss": 1.0}
    await _commit(client, 2, mine, parent=1)

    pages: list[list[str]] = []
    cursor = None
    while True:
        extra: dict[str, str] = {"cursor": cursor} if cursor else {}
        comparison = await _compare(client, commit=_sha(2), metrics="psnr", limit=5, **extra)
        pages.append([output["input_path"] for output in comparison["outputs"]])
        assert comparison["summary"]["psnr"]["better"] == 6
        cursor = comparison["next_cursor"]
        if cursor is None:
            break
    worse = await _compare(client, commit=_sha(2), metrics="psnr", verdict="worse", limit=200)
    psnr_worse = await _compare(client, commit=_sha(2), metric="psnr", verdict="missing")

    assert [len(page) for page in pages] == [5, 5, 2]
    assert [name for page in pages for name in page] == sorted(reference)
    assert [o["input_path"] for o in worse["outputs"]] == ["01.jpg", "03.jpg", "05.jpg", "07.jpg", "09.jpg"]
    assert worse["summary"]["psnr"]["worse"] == 5
    assert [o["input_path"] for o in psnr_worse["outputs"]] == ["11.jpg"]


async def test_an_empty_batch_compares_as_no_outputs_and_zero_counts(client: httpx.AsyncClient) -> None:
    await _commit(client, 1, {"A.jpg": {"psnr": 40.0}})
    registered = await client.post(
        "/api/v1/batch/",
        json=envelope(sha=_sha(2), commit_parents=[_sha(1)], batch_label="default", command={"1": {}}),
    )
    assert registered.status_code == 200, registered.text

    comparison = await _compare(client, commit=_sha(2), reference=_sha(1), metrics="psnr")

    # the reference's output has no match: it is missing
    assert [o["verdict"] for o in comparison["outputs"]] == ["missing"]
    empty = await _compare(client, commit=_sha(2), reference=_sha(2), metrics="psnr")
    assert empty["outputs"] == []
    assert empty["summary"]["psnr"] == {
        "better": 0,
        "worse": 0,
        "same": 0,
        "new": 0,
        "missing": 0,
        "verdict": None,
    }


@pytest.mark.parametrize(
    ("params", "status", "named"),
    [
        ({"commit": "f00dfeed"}, 404, "f00dfeed"),
        ({"commit": _sha(2), "reference": "no-such-ref"}, 404, "no-such-ref"),
        ({"commit": _sha(2), "reference": "broken"}, 404, "broken"),
        ({"commit": _sha(2), "reference_project": "nobody/here"}, 404, "nobody/here"),
        ({"commit": _sha(2), "batch": "tuned"}, 404, "has no batch 'tuned'"),
        ({"commit": _sha(2), "reference": _sha(1), "reference_batch": "tuned"}, 404, "tuned"),
        ({"commit": _sha(2), "metrics": "psnr,sharpness"}, 422, "sharpness"),
        ({"commit": _sha(2), "metric": "sharpness"}, 422, "sharpness"),
        ({"commit": _sha(2), "verdict": "great"}, 422, "verdict"),
        ({"commit": _sha(2), "cursor": "bm90IGEgY3Vyc29y"}, 422, "cursor"),
        ({"commit": _sha(2), "limit": 201}, 422, "limit"),
        ({"commit": _sha(2), "reference_project": "../etc"}, 422, "reference_project"),
    ],
)
async def test_bad_comparisons_are_refused_in_the_error_envelope_naming_the_culprit(
    client: httpx.AsyncClient, params: dict[str, Any], status: int, named: str
) -> None:
    await _commit(client, 1, {"A.jpg": {"psnr": 40.0}})
    await _commit(client, 2, {"A.jpg": {"psnr": 41.0}}, parent=1)
    await client.post(
        "/api/v1/project/milestones/",
        json={"project": PROJECT, "key": "broken", "milestone": {"commit": "deadbeef"}},
    )

    response = await client.get("/api/v2/compare", params={"project": PROJECT} | params)

    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert named in error["message"] + str(error["details"])


@pytest.mark.parametrize("route", ["/api/v2/compare", "/api/v2/verdict"])
@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"commit": "ab\x00cd"}, "commit"),
        ({"commit": _sha(2), "reference": "ab\x00cd"}, "reference"),
        ({"commit": _sha(2), "batch": "ab\x00cd"}, "batch"),
        ({"commit": _sha(2), "reference": _sha(1), "reference_batch": "ab\x00cd"}, "reference_batch"),
    ],
)
async def test_a_nul_character_in_a_parameter_is_a_422_naming_it_on_compare_and_verdict(
    client: httpx.AsyncClient, route: str, params: dict[str, Any], named: str
) -> None:
    await _commit(client, 1, {"A.jpg": {"psnr": 40.0}})
    await _commit(client, 2, {"A.jpg": {"psnr": 41.0}}, parent=1)

    response = await client.get(route, params={"project": PROJECT} | params)

    # PostgreSQL text cannot hold NUL: without the check the query fails in asyncpg, a 500
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["message"] == f"query.{named}: must not contain a NUL character"


async def test_a_nul_character_in_metric_is_a_422_even_without_metric_definitions(
    client: httpx.AsyncClient,
) -> None:
    # without definitions no name is refused as unknown, so the name reaches the database
    await _commit(client, 1, {"A.jpg": {"psnr": 40.0}}, qaboard_metrics={})
    await _commit(client, 2, {"A.jpg": {"psnr": 41.0}}, parent=1, qaboard_metrics={})

    response = await client.get(
        "/api/v2/compare",
        params={"project": PROJECT, "commit": _sha(2), "metrics": "psnr", "metric": "a\x00b"},
    )

    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"] == "query.metric: must not contain a NUL character"


async def test_a_metric_is_only_refused_as_unknown_when_the_project_defines_its_metrics(
    client: httpx.AsyncClient,
) -> None:
    await _commit(client, 1, {"A.jpg": {"psnr": 40.0}}, qaboard_metrics={})
    await _commit(client, 2, {"A.jpg": {"psnr": 41.0}}, parent=1, qaboard_metrics={})

    comparison = await _compare(client, commit=_sha(2), metrics="psnr,sharpness")

    assert comparison["summary"]["sharpness"]["verdict"] is None
    assert "sharpness" not in comparison["outputs"][0]["metrics"]
    # no definitions: smaller is better, as in QA-Board
    assert comparison["outputs"][0]["metrics"]["psnr"]["verdict"] == "worse"


async def test_outputs_of_a_moved_input_match_through_its_metadata_id(client: httpx.AsyncClient) -> None:
    scene = {"input_metadata": {"id": "scene-1"}}
    await post_output(client, output_report("2025/A.jpg", metrics={"psnr": 40.0}, sha=_sha(1)) | scene)
    moved = output_report("2026/A.jpg", metrics={"psnr": 40.0}, sha=_sha(2), commit_parents=[_sha(1)])
    await post_output(client, moved | scene)

    (output,) = (await _compare(client, commit=_sha(2), metrics="psnr"))["outputs"]

    assert (output["input_path"], output["verdict"], output["mismatch"]) == (
        "2026/A.jpg",
        "same",
        ["input_path"],
    )


async def test_a_metric_that_is_not_a_number_has_no_value(client: httpx.AsyncClient) -> None:
    await _commit(client, 1, {"A.jpg": {"psnr": 40.0, "loss": "n/a"}})
    await _commit(client, 2, {"A.jpg": {"psnr": "n/a", "loss": True}}, parent=1)

    (output,) = (await _compare(client, commit=_sha(2), metrics="psnr,loss"))["outputs"]

    assert output["metrics"] == {
        "psnr": {
            "commit": None,
            "reference": 40.0,
            "delta": None,
            "delta_percent": None,
            "verdict": "missing",
        }
    }


async def test_the_openapi_document_describes_the_comparison_and_its_parameters(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()

    route = spec["paths"]["/api/v2/compare"]["get"]
    parameters = {parameter["name"]: parameter for parameter in route["parameters"]}
    schemas = spec["components"]["schemas"]
    assert {
        "reference",
        "reference_batch",
        "reference_project",
        "metric",
        "verdict",
        "cursor",
        "limit",
    } <= set(parameters)
    assert all(parameters[name].get("description") for name in parameters)
    assert route["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/Comparison")
    assert {"outputs", "next_cursor", "summary", "reference_reason", "reference_batch"} <= set(
        schemas["Comparison"]["properties"]
    )
    assert schemas["Verdict"]["enum"] == ["better", "worse", "same", "new", "missing"]


@pytest.mark.parametrize(
    ("generations", "reason"),
    [(ANCESTRY_DEPTH, "fork_point"), (ANCESTRY_DEPTH + 1, "latest_on_reference_branch")],
)
async def test_the_fork_point_is_looked_for_up_to_the_depth_cap(
    client: httpx.AsyncClient, settings: Settings, generations: int, reason: str
) -> None:
    await _commit(client, 1, {"A.jpg": {"psnr": 40.0}})
    # newer on master, but not an ancestor: what is left when the fork point is out of reach
    await _commit(client, 2, {"A.jpg": {"psnr": 41.0}})
    # a chain of commits without results between the fork point and the commit compared
    engine = create_async_engine(settings.database_url)
    async with engine.begin() as connection:
        await connection.execute(
            text(
                """
                INSERT INTO commit (project_id, sha, parents)
                SELECT :project, lpad(to_hex(k), 40, '0'),
                       ARRAY[CASE WHEN k = 1 THEN :fork ELSE lpad(to_hex(k - 1), 40, '0') END]
                FROM generate_series(1, :chain) AS k
                """
            ),
            {"project": PROJECT, "fork": _sha(1), "chain": generations - 1},
        )
    await engine.dispose()
    await _commit(client, 3, {"A.jpg": {"psnr": 42.0}}, branch="feature")
    head = f"{generations - 1:040x}"
    await run_outputs(
        client, {"A.jpg": {"psnr": 42.0}}, sha=_sha(4), commit_branch="feature", commit_parents=[head]
    )

    comparison = await _compare(client, commit=_sha(4), metrics="psnr")

    assert comparison["reference_reason"] == reason
    assert comparison["reference"]["sha"] == (_sha(1) if reason == "fork_point" else _sha(2))
