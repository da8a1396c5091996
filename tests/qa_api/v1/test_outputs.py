"""POST/GET/PUT/DELETE /api/v1/output/: the run lifecycle the `qa` CLI reports."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.qa_api.builders import output_report, post_output


async def test_a_run_reported_queued_then_running_then_finished_is_one_output(
    client: httpx.AsyncClient,
) -> None:
    queued = await post_output(client, output_report(stage="queued"))
    running = await post_output(client, output_report(stage="running"))
    finished = await post_output(client, output_report(metrics={"psnr": 40.5, "is_failed": False}))

    assert queued["id"] == running["id"] == finished["id"]
    assert (queued["is_pending"], queued["is_running"]) == (True, False)
    assert (running["is_pending"], running["is_running"]) == (True, True)
    assert (finished["is_pending"], finished["is_running"], finished["is_failed"]) == (False, False, False)
    assert finished["metrics"] == {"psnr": 40.5, "is_failed": False}
    # what `qa batch` needs to recognise the run next time
    assert finished["output_dir_url"] == "/s/mnt/qa/acme/vision/99/fcebb1272352a1/output/default/linux/A"
    assert (finished["test_input_database"], finished["test_input_path"]) == ("/data/images", "A.jpg")
    assert finished["output_type"] == "default"
    assert finished["data"]["storage"] == 392
    assert finished["data"]["job_options"] == {}  # merged from the queued report


async def test_concurrent_reports_of_the_same_run_store_it_once(client: httpx.AsyncClient) -> None:
    bodies = [output_report(stage="running") for _ in range(12)]
    results = await asyncio.gather(*(post_output(client, body) for body in bodies))

    assert len({result["id"] for result in results}) == 1
    page = (await client.get(f"/api/v2/batches/{await _batch_id(client)}/outputs")).json()
    assert len(page["items"]) == 1


async def _batch_id(client: httpx.AsyncClient) -> int:
    commit = (await client.get("/api/v2/commits/99fcebb1", params={"project": "acme/vision"})).json()
    batch_id: int = commit["batches"][0]["id"]
    return batch_id


@pytest.mark.parametrize(
    "change",
    [
        {"platform": "windows"},
        {"configurations": ["base", {"threshold": 0.5}]},
        {"extra_parameters": {"forwarded_args": ["--fast"]}},
        {"database": "/data/other"},
        {"batch_label": "nightly"},
    ],
)
async def test_runs_differing_in_what_identifies_them_are_distinct_outputs(
    client: httpx.AsyncClient, change: dict[str, Any]
) -> None:
    first = await post_output(client, output_report())
    second = await post_output(client, output_report() | change)

    assert first["id"] != second["id"]


async def test_a_new_run_of_a_finished_output_keeps_its_metrics_until_it_ends(
    client: httpx.AsyncClient,
) -> None:
    await post_output(client, output_report(metrics={"psnr": 40.0}))
    rerun = await post_output(client, output_report(stage="running"))
    assert rerun["metrics"] == {"psnr": 40.0}
    assert rerun["is_pending"] is True

    done = await post_output(client, output_report(metrics={"psnr": 42.0}))
    assert done["metrics"] == {"psnr": 42.0}


async def test_a_killed_rerun_is_marked_failed_and_loses_the_previous_results(
    client: httpx.AsyncClient,
) -> None:
    await post_output(client, output_report(metrics={"psnr": 40.0}))
    await post_output(client, output_report(stage="running"))
    # the CLI's end-of-batch fix-up of a run that died: no metrics, just the verdict
    body = output_report(stage="queued")
    body.update(is_pending=False, is_failed=True)
    body.pop("data")
    fixed = await post_output(client, body)

    assert (fixed["is_failed"], fixed["is_pending"]) == (True, False)
    assert fixed["metrics"] == {}


async def test_is_failed_in_the_metrics_marks_the_output_failed(client: httpx.AsyncClient) -> None:
    result = await post_output(client, output_report(metrics={"is_failed": True}))

    assert result["is_failed"] is True


async def test_both_path_forms_the_cli_uses_are_served_without_redirects(
    client: httpx.AsyncClient,
) -> None:
    created = await post_output(client, output_report())
    without_slash = await client.post("/api/v1/output", json=output_report())
    by_id = await client.get(f"/api/v1/output/{created['id']}/")
    by_id_no_slash = await client.get(f"/api/v1/output/{created['id']}")

    assert without_slash.status_code == 200
    assert without_slash.json()["id"] == created["id"]
    assert by_id.status_code == by_id_no_slash.status_code == 200
    assert by_id.json() == by_id_no_slash.json()


async def test_put_sets_flags_and_merges_metrics_and_data(client: httpx.AsyncClient) -> None:
    created = await post_output(client, output_report(metrics={"psnr": 40.0, "loss": 0.2}))

    response = await client.put(
        f"/api/v1/output/{created['id']}/",
        json={"is_failed": True, "metrics": {"loss": 0.3}, "data": {"reviewed": True}},
    )

    assert response.status_code == 200
    updated = response.json()
    assert updated["is_failed"] is True
    assert updated["metrics"] == {"psnr": 40.0, "loss": 0.3}
    assert updated["data"]["reviewed"] is True
    assert updated["data"]["storage"] == 392


async def test_delete_forgets_a_finished_output(client: httpx.AsyncClient) -> None:
    created = await post_output(client, output_report())

    deleted = await client.delete(f"/api/v1/output/{created['id']}/")
    again = await client.get(f"/api/v1/output/{created['id']}/")

    assert deleted.status_code == 200
    assert deleted.json()["status"] == "OK"
    assert again.status_code == 404


async def test_delete_refuses_a_run_that_is_still_running(client: httpx.AsyncClient) -> None:
    created = await post_output(client, output_report(stage="running"))

    response = await client.delete(f"/api/v1/output/{created['id']}/")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert (await client.get(f"/api/v1/output/{created['id']}/")).status_code == 200


@pytest.mark.parametrize(
    ("output_id", "status"),
    [("424242", 404), ("abc", 422), ("0", 422), (str(2**70), 422)],
)
async def test_unknown_or_invalid_output_ids_get_a_clear_error(
    client: httpx.AsyncClient, output_id: str, status: int
) -> None:
    response = await client.get(f"/api/v1/output/{output_id}/")

    assert response.status_code == status
    assert response.json()["error"]["message"]


async def test_concurrent_updates_and_deletes_of_an_output_never_fail_with_a_server_error(
    client: httpx.AsyncClient,
) -> None:
    created = await post_output(client, output_report())
    url = f"/api/v1/output/{created['id']}/"

    responses = await asyncio.gather(
        *(client.put(url, json={"metrics": {"n": n}}) for n in range(10)),
        client.delete(url),
        *(client.put(url, json={"metrics": {"n": n}}) for n in range(10)),
    )

    assert {r.status_code for r in responses} <= {200, 404}
    assert (await client.get(url)).status_code == 404
