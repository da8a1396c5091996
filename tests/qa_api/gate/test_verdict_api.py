"""GET /api/v2/verdict on real PostgreSQL, with runs reported through the qa CLI's own route: pending
while runs are queued or running, then fail or pass with the reasons, and bad input refused as compare
refuses it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from qa_api.config import Settings
from qa_api.main import create_app
from tests.qa_api.builders import PROJECT, envelope, output_report, post_output, run_outputs
from tests.qa_api.identity.helpers import bearer, create_token


def _sha(n: int) -> str:
    return (f"{n:x}" * 40)[:40]


async def _commit(
    client: httpx.AsyncClient, n: int, metrics_by_input: dict[str, dict[str, Any]], **overrides: Any
) -> str:
    """Finished runs on commit `n`, a child of commit `n - 1` (none for 1), on master."""
    sha = _sha(n)
    await run_outputs(
        client,
        metrics_by_input,
        sha=sha,
        commit_parents=[_sha(n - 1)] if n > 1 else [],
        commit_authored_datetime=f"2026-11-{n:02d}T12:00:00+00:00",
        **overrides,
    )
    return sha


async def _report(client: httpx.AsyncClient, n: int, name: str, stage: str, **fields: Any) -> None:
    await post_output(
        client,
        output_report(
            name,
            stage=stage,
            sha=_sha(n),
            commit_parents=[_sha(n - 1)],
            commit_authored_datetime=f"2026-11-{n:02d}T12:00:00+00:00",
            **fields,
        ),
    )


async def _verdict(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/v2/verdict", params={"project": PROJECT} | params)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_a_batch_is_pending_while_runs_are_queued_or_running_then_passes_once_they_finish(
    client: httpx.AsyncClient,
) -> None:
    await _commit(client, 1, {"A.jpg": {"psnr": 40.0, "loss": 1.0}, "B.jpg": {"psnr": 40.0, "loss": 1.0}})
    await _report(client, 2, "A.jpg", "queued")
    await _report(client, 2, "B.jpg", "running")

    queued = await _verdict(client, commit=_sha(2)[:7])
    await _report(client, 2, "A.jpg", "finished", metrics={"psnr": 40.0, "loss": 1.0})
    half = await _verdict(client, commit=_sha(2))
    await _report(client, 2, "B.jpg", "finished", metrics={"psnr": 44.0, "loss": 1.0})
    done = await _verdict(client, commit=_sha(2))

    assert (queued["status"], queued["outputs"]) == (
        "pending",
        {"total": 2, "done": 0, "pending": 2, "failed": 0},
    )
    assert queued["reasons"] == ["2 outputs of 2 queued or running"]
    assert queued["description"] == "0/2 outputs done"
    assert (half["status"], half["outputs"]["done"], half["description"]) == (
        "pending",
        1,
        "1/2 outputs done",
    )
    assert done["status"] == "pass"
    assert done["outputs"] == {"total": 2, "done": 2, "pending": 0, "failed": 0}
    assert (done["worse"], done["worse_count"], done["better_count"]) == ([], 0, 1)
    assert done["description"] == "2 outputs: none worse, 1 better"
    assert done["reasons"] == [f"no output worse than the reference ({_sha(1)[:8]}, batch default)"]
    assert (done["project"], done["commit"], done["batch"]) == (PROJECT, _sha(2), "default")
    assert done["reference"] == {
        "sha": _sha(1),
        "batch": "default",
        "project": PROJECT,
        "reason": "previous_on_reference_branch",
    }
    assert done["summary"]["psnr"] == {
        "better": 1,
        "worse": 0,
        "same": 1,
        "new": 0,
        "missing": 0,
        "verdict": "better",
    }
    assert done["alerts"] == []


async def test_outputs_worse_on_a_metric_fail_the_gate_and_the_reasons_count_them(
    client: httpx.AsyncClient,
) -> None:
    await _commit(
        client, 1, {name: {"psnr": 40.0, "loss": 1.0} for name in ("A.jpg", "B.jpg", "C.jpg", "D.jpg")}
    )
    await _commit(
        client,
        2,
        {
            # loss: smaller is better; psnr: larger is better
            "A.jpg": {"psnr": 40.0, "loss": 1.5},
            "B.jpg": {"psnr": 30.0, "loss": 2.0},
            "C.jpg": {"psnr": 40.2, "loss": 1.005},  # within the 1% tolerance
            "D.jpg": {"psnr": 41.0, "loss": 1.0},
        },
    )

    verdict = await _verdict(client, commit=_sha(2))

    assert verdict["status"] == "fail"
    assert verdict["reasons"] == ["1 output worse on psnr", "2 outputs worse on loss"]
    assert verdict["description"] == "1 output worse on psnr; 2 outputs worse on loss"
    assert (verdict["worse_count"], verdict["better_count"]) == (2, 1)
    # the largest change first: B's loss doubled
    assert [(o["input_path"], sorted(o["metrics"])) for o in verdict["worse"]] == [
        ("B.jpg", ["loss", "psnr"]),
        ("A.jpg", ["loss"]),
    ]
    b = verdict["worse"][0]
    assert b["metrics"]["loss"] == {"commit": 2.0, "reference": 1.0, "delta_percent": 100.0}
    assert (b["platform"], b["failed"]) == ("linux", False)
    assert b["reference_output_id"] is not None
    assert verdict["summary"]["loss"]["worse"] == 2


async def test_a_run_that_failed_where_the_reference_did_not_fails_the_gate_naming_its_input(
    client: httpx.AsyncClient,
) -> None:
    await _commit(
        client, 1, {"a/b.jpg": {"psnr": 40.0}, "c.jpg": {"is_failed": True}, "d.jpg": {"psnr": 40.0}}
    )
    await _commit(
        client,
        2,
        {
            "a/b.jpg": {"is_failed": True},
            "c.jpg": {"is_failed": True},  # as the reference: said, not failing
            "d.jpg": {"psnr": 40.0},
            "e.jpg": {"psnr": 10.0},  # new: said, not failing
        },
    )

    verdict = await _verdict(client, commit=_sha(2))

    assert verdict["status"] == "fail"
    assert verdict["outputs"] == {"total": 4, "done": 4, "pending": 0, "failed": 2}
    assert verdict["reasons"] == [
        "input a/b.jpg failed on linux",
        "1 new output: no reference output to compare with",
        "1 run failed as the reference's did: c.jpg",
    ]
    assert verdict["description"] == "input a/b.jpg failed on linux"
    assert [(o["input_path"], o["failed"], o["metrics"]) for o in verdict["worse"]] == [("a/b.jpg", True, {})]


async def test_new_outputs_and_inputs_not_run_are_said_without_failing_the_gate(
    client: httpx.AsyncClient,
) -> None:
    await _commit(client, 1, {"A.jpg": {"psnr": 40.0}, "B.jpg": {"psnr": 40.0}})
    await _commit(client, 2, {"A.jpg": {"psnr": 40.0}, "C.jpg": {"psnr": 1.0}})

    verdict = await _verdict(client, commit=_sha(2))

    assert verdict["status"] == "pass"
    assert verdict["reasons"][1:] == [
        "1 new output: no reference output to compare with",
        "1 reference output with no output of this batch on its input",
    ]


async def test_a_failed_run_of_a_new_input_fails_the_gate(client: httpx.AsyncClient) -> None:
    await _commit(client, 1, {"A.jpg": {"psnr": 40.0}})
    await _commit(client, 2, {"A.jpg": {"psnr": 40.0}, "B.jpg": {"is_failed": True}})

    verdict = await _verdict(client, commit=_sha(2))

    assert verdict["status"] == "fail"
    assert verdict["reasons"] == ["input B.jpg failed on linux (a new input)"]
    assert verdict["worse"][0]["reference_output_id"] is None


async def test_a_batch_without_outputs_yet_is_pending_and_says_so(client: httpx.AsyncClient) -> None:
    await _commit(client, 1, {"A.jpg": {"psnr": 40.0}})
    registered = await client.post(
        "/api/v1/batch/",
        json=envelope(sha=_sha(2), commit_parents=[_sha(1)], batch_label="default", command={"1": {}}),
    )
    assert registered.status_code == 200, registered.text

    verdict = await _verdict(client, commit=_sha(2))

    assert verdict["status"] == "pending"
    assert verdict["reasons"] == ["no outputs yet"]
    assert verdict["description"] == "no outputs yet"
    assert verdict["outputs"] == {"total": 0, "done": 0, "pending": 0, "failed": 0}


async def test_the_reference_and_metrics_are_chosen_as_compare_chooses_them(
    client: httpx.AsyncClient,
) -> None:
    await _commit(client, 1, {"A.jpg": {"psnr": 30.0, "loss": 1.0}}, batch_label="tuned")
    await _commit(client, 2, {"A.jpg": {"psnr": 50.0, "loss": 1.0}})
    await _commit(client, 3, {"A.jpg": {"psnr": 40.0, "loss": 9.0}})

    explicit = await _verdict(
        client, commit=_sha(3), reference=_sha(1), reference_batch="tuned", metrics="psnr"
    )

    assert explicit["status"] == "pass"
    assert explicit["reference"] == {
        "sha": _sha(1),
        "batch": "tuned",
        "project": PROJECT,
        "reason": "explicit",
    }
    assert list(explicit["summary"]) == ["psnr"]


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"commit": "f00dfeed"}, "f00dfeed"),
        ({"commit": _sha(2), "reference": "no-such-ref"}, "no-such-ref"),
        ({"commit": _sha(2), "batch": "tuned"}, "tuned"),
        ({"commit": _sha(2), "reference": _sha(1), "reference_batch": "tuned"}, "tuned"),
        ({"commit": _sha(2), "reference_project": "nobody/here"}, "nobody/here"),
    ],
)
async def test_an_unknown_commit_reference_or_batch_is_a_404_naming_it(
    client: httpx.AsyncClient, params: dict[str, Any], named: str
) -> None:
    await _commit(client, 1, {"A.jpg": {"psnr": 40.0}})
    await _commit(client, 2, {"A.jpg": {"psnr": 41.0}})

    response = await client.get("/api/v2/verdict", params={"project": PROJECT} | params)

    assert response.status_code == 404, response.text
    assert named in response.json()["error"]["message"]


@pytest.fixture
async def closed(settings: Settings, client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """qa_api with closed reads (the production default), on the database `client` just emptied."""
    app = create_app(settings.model_copy(update={"open_reads": False}))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://qa-api.test") as closed_client:
            yield closed_client


async def test_a_reference_project_the_token_may_not_read_is_a_403(
    client: httpx.AsyncClient, closed: httpx.AsyncClient, anonymous: httpx.AsyncClient, admin_token: str
) -> None:
    await _commit(client, 1, {"A.jpg": {"psnr": 40.0}}, project="other/audio")
    await _commit(client, 2, {"A.jpg": {"psnr": 41.0}})
    reader = await create_token(anonymous, admin_token, scopes=["runs:read"], projects=["acme/*"])
    headers = bearer(reader["access_token"])

    own = await closed.get(
        "/api/v2/verdict",
        params={"project": PROJECT, "commit": _sha(2), "reference": _sha(1)},
        headers=headers,
    )
    other = await closed.get(
        "/api/v2/verdict",
        params={
            "project": PROJECT,
            "commit": _sha(2),
            "reference": _sha(1),
            "reference_project": "other/audio",
        },
        headers=headers,
    )

    assert own.status_code == 404, own.text  # acme/vision has no such commit
    assert other.status_code == 403, other.text
    assert "other/audio" in other.json()["error"]["message"]


async def test_a_batch_is_pending_while_the_reference_batch_is_still_running_then_judged_against_it(
    client: httpx.AsyncClient,
) -> None:
    await _commit(client, 1, {"A.jpg": {"psnr": 40.0}})
    for name in ("B.jpg", "C.jpg"):
        await post_output(
            client,
            output_report(
                name, stage="running", sha=_sha(1), commit_authored_datetime="2026-11-01T12:00:00+00:00"
            ),
        )
    await _commit(client, 2, {"A.jpg": {"psnr": 40.0}, "B.jpg": {"psnr": 1.0}, "C.jpg": {"psnr": 40.0}})

    waiting = await _verdict(client, commit=_sha(2))
    for name in ("B.jpg", "C.jpg"):
        await post_output(
            client,
            output_report(
                name,
                stage="finished",
                metrics={"psnr": 40.0},
                sha=_sha(1),
                commit_authored_datetime="2026-11-01T12:00:00+00:00",
            ),
        )
    judged = await _verdict(client, commit=_sha(2))

    assert (waiting["status"], waiting["outputs"]) == (
        "pending",
        {"total": 3, "done": 3, "pending": 0, "failed": 0},
    )
    assert waiting["reasons"] == ["the reference batch is still running (2 outputs pending)"]
    assert waiting["description"] == "3/3 outputs done; the reference batch is still running"
    assert (judged["status"], judged["reasons"][0]) == ("fail", "1 output worse on psnr")


async def test_huge_metric_values_are_judged_without_a_delta_once_their_statistics_are_cached(
    client: httpx.AsyncClient,
) -> None:
    await _commit(client, 1, {"A.jpg": {"psnr": -9e307, "loss": 1e-310}})
    await _commit(client, 2, {"A.jpg": {"psnr": 9e307, "loss": 1.0}})

    # the first answer computes the batches' statistics, the next ones read them from the cache
    answers = [await _verdict(client, commit=_sha(2), metrics=name) for name in ("psnr", "psnr", "loss")]
    comparison = await client.get(
        "/api/v2/compare", params={"project": PROJECT, "commit": _sha(2), "metrics": "psnr,loss"}
    )

    # loss: 1.0 against 1e-310, larger is worse; a percentage too large for a float is not said
    assert [answer["status"] for answer in answers] == ["pass", "pass", "fail"]
    assert comparison.status_code == 200, comparison.text
    medians, summary = comparison.json()["metrics"], comparison.json()["summary"]
    (output,) = comparison.json()["outputs"]
    assert (medians["psnr"]["median_delta"], summary["psnr"]["verdict"]) == (None, "better")
    assert (output["metrics"]["psnr"]["delta"], output["metrics"]["psnr"]["verdict"]) == (None, "better")
    assert (medians["loss"]["median_delta_percent"], summary["loss"]["verdict"]) == (None, "worse")
