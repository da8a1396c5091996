"""GET/POST /api/v1/commit and /api/v1/batch: how the CLI reads results back and finds its reference."""

from __future__ import annotations

import json
import statistics

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from qa_api.config import Settings
from tests.qa_api.builders import PROJECT, SHA, envelope, output_report, post_output, run_outputs

OTHER_SHA = "a" * 40


async def test_a_commit_remembers_every_branch_and_tag_it_was_seen_on(client: httpx.AsyncClient) -> None:
    await post_output(client, output_report(commit_branch="feature/denoise"))
    await post_output(client, output_report(commit_branch="origin/master"))
    # GitLab tag pipelines report the tag as branch and tag
    await post_output(client, output_report(commit_branch="v1.2.0", commit_tag="v1.2.0"))

    commit = (await client.get(f"/api/v1/commit/{SHA}", params={"project": PROJECT})).json()

    assert commit["branches"] == ["feature/denoise", "master"]
    assert commit["tags"] == ["v1.2.0"]
    assert commit["branch"] == "feature/denoise"
    assert commit["parents"] == ["46f39e31e16218b2a5aac997a57fc39f3d543894"]
    assert commit["message"] == "Tune the denoiser"


@pytest.mark.parametrize("reference", [SHA, SHA[:7], "master", "v1.2.0"])
async def test_a_commit_is_found_by_sha_short_sha_branch_or_tag(
    client: httpx.AsyncClient, reference: str
) -> None:
    await post_output(client, output_report(commit_tag="v1.2.0"))

    response = await client.get(f"/api/v1/commit/{reference}", params={"project": PROJECT})

    assert response.status_code == 200
    assert response.json()["id"] == SHA


async def test_commit_returns_its_outputs_and_aggregated_metrics(client: httpx.AsyncClient) -> None:
    psnr = {"A.jpg": 40.0, "B.jpg": 42.0, "C.jpg": 47.0}
    created = await run_outputs(
        client, {name: {"psnr": value, "is_failed": False} for name, value in psnr.items()}
    )
    await post_output(client, output_report("D.jpg", metrics={"psnr": 0.0, "is_failed": True}))
    await post_output(client, output_report("E.jpg", stage="running"))

    response = await client.get(
        f"/api/v1/commit/{SHA}",
        params={"project": PROJECT, "batch": "default", "metrics": json.dumps({"psnr": 0, "ssim": 0})},
    )

    assert response.status_code == 200
    batch = response.json()["batches"]["default"]
    assert len(batch["outputs"]) == 5
    assert {str(output["id"]) for output in created} < set(batch["outputs"])
    # failed and pending runs do not count; a metric no output has is absent
    assert batch["aggregated_metrics"] == {
        "psnr_median": statistics.median(psnr.values()),
        "psnr_average": pytest.approx(statistics.mean(psnr.values())),
    }
    assert (batch["valid_outputs"], batch["failed_outputs"]) == (3, 1)
    assert (batch["pending_outputs"], batch["running_outputs"]) == (1, 1)


async def test_a_commits_outputs_are_exactly_what_each_output_reads_as_on_its_own(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    # PostgreSQL builds the commit's outputs map, Python each single output: they must agree to the byte
    # of every value, in every state, whatever the output directory, at whole and fractional seconds
    directories = ["/mnt/qa/run 1/é%#?", "/mnt/qa/plain-dir_1.0~x", None]
    for n, directory in enumerate(directories):
        body = output_report(
            f"in{n}.jpg",
            configurations=["base", {"iso": 100 * n}],
            extra_parameters={"gain": 1.5, "unicode": "ß"},
            metrics={"psnr": 40.25, "loss": 1e-05, "big": 10**20, "is_failed": False},
        )
        body.update(output_directory=directory, input_metadata={"frames": n, "tags": ["a", "b"]})
        await post_output(client, body)
    await post_output(client, output_report("failed.jpg", metrics={"is_failed": True}))
    await post_output(client, output_report("queued.jpg", stage="queued"))
    await post_output(client, output_report("running.jpg", stage="running"))
    engine = create_async_engine(settings.database_url)
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE output SET created_at = date_trunc('second', created_at) WHERE id % 2 = 0")
        )
    await engine.dispose()

    commit = (await client.get(f"/api/v1/commit/{SHA}", params={"project": PROJECT})).json()

    outputs = commit["batches"]["default"]["outputs"]
    assert list(outputs) == [str(n) for n in range(1, 7)]
    assert {str(n) for n in range(1, 7)} == set(outputs)
    for output_id, output in outputs.items():
        alone = await client.get(f"/api/v1/output/{output_id}/")
        assert output == alone.json()
    assert outputs["1"]["output_dir_url"] == "/s/mnt/qa/run%201/%C3%A9%25%23%3F"
    assert outputs["3"]["output_dir_url"] == ""
    assert {o["created_date"][19] for o in outputs.values()} == {".", "+"}


async def test_non_numeric_and_oversized_metric_values_are_left_out_of_aggregates(
    client: httpx.AsyncClient,
) -> None:
    await run_outputs(
        client,
        {
            "A.jpg": {"score": 1},
            "B.jpg": {"score": "n/a"},
            "C.jpg": {"score": True},
            "D.jpg": {"score": 10**400},
            "E.jpg": {"score": 3},
            "F.jpg": {"score": None},
        },
    )

    batch = (
        await client.get(f"/api/v1/commit/{SHA}", params={"project": PROJECT, "metrics": '{"score": 0}'})
    ).json()["batches"]["default"]

    assert batch["aggregated_metrics"] == {"score_median": 2.0, "score_average": 2.0}


async def test_asking_for_a_batch_the_commit_lacks_returns_no_batches(client: httpx.AsyncClient) -> None:
    await post_output(client, output_report())

    response = await client.get(f"/api/v1/commit/{SHA}", params={"project": PROJECT, "batch": "nightly"})

    assert response.status_code == 200
    assert response.json()["batches"] == {}


async def test_reference_lookup_returns_the_latest_commit_on_the_branch_with_finished_results(
    client: httpx.AsyncClient,
) -> None:
    await post_output(client, output_report(commit_authored_datetime="2026-11-01T00:00:00+00:00"))
    # newer, but its only run failed
    await post_output(
        client,
        output_report(
            sha=OTHER_SHA, commit_authored_datetime="2026-11-02T00:00:00+00:00", metrics={"is_failed": True}
        ),
    )
    # newest, but on another branch
    await post_output(
        client,
        output_report(
            sha="b" * 40, commit_branch="feature", commit_authored_datetime="2026-11-03T00:00:00+00:00"
        ),
    )

    response = await client.get(
        "/api/v1/commit/", params={"project": PROJECT, "branch": "master", "batch": "default"}
    )

    assert response.status_code == 200
    assert response.json()["id"] == SHA
    assert "default" in response.json()["batches"]


async def test_reference_lookup_defaults_to_the_project_reference_branch(client: httpx.AsyncClient) -> None:
    await post_output(client, output_report())

    response = await client.get("/api/v1/commit", params={"project": PROJECT})

    assert response.status_code == 200
    assert response.json()["id"] == SHA


@pytest.mark.parametrize("branch", ["master", "main"])
async def test_without_a_configured_reference_branch_the_lookup_falls_back_to_master_or_main(
    client: httpx.AsyncClient, branch: str
) -> None:
    await post_output(
        client, output_report(commit_branch=branch, qaboard_config={"project": {"name": PROJECT}})
    )
    await post_output(
        client,
        output_report(
            sha=OTHER_SHA,
            commit_branch="feature",
            commit_authored_datetime="2026-11-30T00:00:00+00:00",
            qaboard_config={"project": {"name": PROJECT}},
        ),
    )

    response = await client.get("/api/v1/commit/", params={"project": PROJECT})

    assert response.status_code == 200, response.text
    assert response.json()["id"] == SHA


async def test_reference_lookup_without_results_on_the_branch_is_a_404(client: httpx.AsyncClient) -> None:
    await post_output(client, output_report(stage="running"))

    response = await client.get("/api/v1/commit/", params={"project": PROJECT, "branch": "master"})

    assert response.status_code == 404
    assert "master" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("params", "path", "status"),
    [
        ({"project": "nobody/nothing"}, f"/api/v1/commit/{SHA}", 404),
        ({"project": PROJECT}, f"/api/v1/commit/{OTHER_SHA}", 404),
        ({}, f"/api/v1/commit/{SHA}", 422),
        ({"project": "../etc"}, f"/api/v1/commit/{SHA}", 422),
        ({"project": PROJECT, "metrics": "{not json"}, f"/api/v1/commit/{SHA}", 422),
    ],
)
async def test_commit_lookups_that_cannot_be_answered_say_why(
    client: httpx.AsyncClient, params: dict[str, str], path: str, status: int
) -> None:
    await post_output(client, output_report())

    response = await client.get(path, params=params)

    assert response.status_code == status
    assert response.json()["error"]["message"]


async def test_qa_batch_registers_its_commands_on_the_batch(client: httpx.AsyncClient) -> None:
    first = envelope(command={"c1": {"argv": ["qa", "batch", "my-batch"], "runner": "local"}})
    second = envelope(command={"c2": {"argv": ["qa", "batch", "other"], "runner": "local"}})
    responses = [await client.post("/api/v1/batch/", json=body) for body in (first, second)]

    assert [r.status_code for r in responses] == [200, 200]
    assert responses[0].json()["id"] == responses[1].json()["id"]
    batch = (await client.get(f"/api/v1/commit/{SHA}", params={"project": PROJECT})).json()["batches"][
        "default"
    ]
    assert set(batch["data"]["commands"]) == {"c1", "c2"}


async def test_qa_optimize_moves_the_best_iteration_into_its_batch_and_drops_iterations(
    client: httpx.AsyncClient,
) -> None:
    await client.post(
        "/api/v1/batch/",
        json=envelope(batch_label="tune", data={"optimization": True, "iteration": 1, "iterations": 2}),
    )
    for n, value in ((1, 0.3), (2, 0.1)):
        await run_outputs(
            client, {"A.jpg": {"loss": value}}, batch_label=f"tune|iter{n}", extra_parameters={"x": n}
        )
        await post_output(
            client,
            output_report(
                "my-batch",
                batch_label="tune",
                input_type="optim_iteration",
                extra_parameters={"x": n},
                metrics={"iteration": n, "objective": value},
            ),
        )
        step = {"optimization": True, "iteration": n, "iteration_label": f"tune|iter{n}"}
        step |= {"is_best_iter": True, "best_params": {"x": n}}
        response = await client.post("/api/v1/batch/", json=envelope(batch_label="tune", data=step))
        assert response.status_code == 200

    commit = (await client.get(f"/api/v1/commit/{SHA}", params={"project": PROJECT})).json()

    assert set(commit["batches"]) == {"tune"}
    tune = commit["batches"]["tune"]
    assert tune["data"]["best_iter"] == 2
    runs = [o for o in tune["outputs"].values() if o["output_type"] != "optim_iteration"]
    assert [(o["extra_parameters"], o["metrics"]) for o in runs] == [({"x": 2}, {"loss": 0.1})]
    summaries = [o for o in tune["outputs"].values() if o["output_type"] == "optim_iteration"]
    assert len(summaries) == 2


async def test_an_optimization_step_without_iteration_is_refused_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/api/v1/batch/", json=envelope(batch_label="tune", data={"note": "before"}))

    response = await client.post(
        "/api/v1/batch/", json=envelope(batch_label="tune", data={"optimization": True, "note": "after"})
    )

    assert response.status_code == 422
    batch = (await client.get(f"/api/v1/commit/{SHA}", params={"project": PROJECT})).json()["batches"]["tune"]
    assert batch["data"]["note"] == "before"


async def test_save_artifacts_records_the_commit_and_its_artifacts_dir(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/commit/", json=envelope(artifacts_commit="/mnt/qa/acme/vision/artifacts/99fc", data={"k": 1})
    )

    assert response.status_code == 200
    commit = (await client.get(f"/api/v1/commit/{SHA}", params={"project": PROJECT})).json()
    assert commit["artifacts_url"] == "/s/mnt/qa/acme/vision/artifacts/99fc"
    assert commit["data"]["k"] == 1
    assert commit["batches"] == {}


async def test_the_project_config_follows_new_commits_of_the_reference_branch_only(
    client: httpx.AsyncClient,
) -> None:
    def config(version: int) -> dict[str, object]:
        return {"project": {"name": PROJECT, "reference_branch": "master"}, "version": version}

    await post_output(client, output_report(qaboard_config=config(1)))
    await post_output(client, output_report(sha="b" * 40, commit_branch="feature", qaboard_config=config(2)))
    after_feature = (await client.get("/api/v1/project", params={"project": PROJECT})).json()
    await post_output(client, output_report(sha="c" * 40, qaboard_config=config(3)))
    after_master = (await client.get("/api/v1/project", params={"project": PROJECT})).json()

    assert after_feature["qatools_config"]["version"] == 1
    assert after_master["qatools_config"]["version"] == 3


async def test_reporting_to_a_batch_that_qa_optimize_dropped_creates_it_again(
    client: httpx.AsyncClient,
) -> None:
    # the server remembers the batch's id from the first report...
    await run_outputs(client, {"A.jpg": {"loss": 0.3}}, batch_label="tune|iter1")
    step = {"optimization": True, "iteration": 1, "iteration_label": "tune|iter1"}
    await client.post("/api/v1/batch/", json=envelope(batch_label="tune", data=step))
    # ...which the optimization step deleted
    rerun = await post_output(client, output_report(batch_label="tune|iter1", metrics={"loss": 0.2}))

    batches = (await client.get(f"/api/v1/commit/{SHA}", params={"project": PROJECT})).json()["batches"]
    assert [o["metrics"] for o in batches["tune|iter1"]["outputs"].values()] == [{"loss": 0.2}]
    assert str(rerun["id"]) in batches["tune|iter1"]["outputs"]
