"""Request bodies shaped like the ones the `qa` CLI (qaboard 1.1.1) sends, captured from the wire."""

from __future__ import annotations

from typing import Any

import httpx

PROJECT = "acme/vision"
SHA = "99fcebb1272352a154ae6c33b5bb3ef25549144f"
PARENT = "46f39e31e16218b2a5aac997a57fc39f3d543894"
STORAGE = "/mnt/qa/acme/vision"

METRIC_DEFINITIONS = {
    "available_metrics": {
        "psnr": {"label": "PSNR", "smaller_is_better": False},
        "loss": {"label": "Loss", "smaller_is_better": True},
    },
    "default_metric": "psnr",
    "summary_metrics": ["psnr", "loss"],
}


def envelope(*, project: str = PROJECT, sha: str = SHA, **overrides: Any) -> dict[str, Any]:
    """What every POST of the CLI carries (commit fields, config, and the CLI's context)."""
    outputs_commit = f"{STORAGE}/{sha[:2]}/{sha[2:16]}"
    body: dict[str, Any] = {
        "job_type": "ci",
        "commit_sha": sha,
        "git_commit_sha": sha,
        "forwarded_args": [],
        "project": project,
        "project_root": project,
        "subproject": ".",
        "user": "ci-runner",
        "dryrun": False,
        "share": False,
        "offline": False,
        "outputs_commit": outputs_commit,
        "artifacts_commit": outputs_commit,
        "raw_batch_label": "default",
        "batch_label": "default",
        "platform": "linux",
        "input_type": "default",
        "inputs_settings": {"database": {"linux": "/data"}, "type": "default", "globs": None},
        "database": "/data/images",
        "configuration": "-",
        "configurations": [],
        "extra_parameters": {},
        "color": True,
        "commit_branch": "master",
        "commit_tag": None,
        "commit_committer_name": "Jane Dev",
        "commit_committer_email": "jane@example.com",
        "commit_authored_datetime": "2026-11-20T10:00:00.000000+00:00",
        "commit_parents": [PARENT],
        "commit_message": "Tune the denoiser",
        "qaboard_config": {"project": {"name": project, "reference_branch": "master"}},
        "qaboard_metrics": METRIC_DEFINITIONS,
    }
    body.update(overrides)
    return body


def output_report(
    input_path: str = "A.jpg",
    *,
    stage: str = "finished",
    metrics: dict[str, Any] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A POST /api/v1/output/ body at one stage of a run: queued, running, finished."""
    label = overrides.get("batch_label", "default")
    body = envelope(**overrides)
    body.update(
        input_path=input_path,
        rel_input_path=input_path,
        output_directory=f"{body['outputs_commit']}/output/{label}/linux/{input_path.rsplit('.', 1)[0]}",
        input_metadata={},
    )
    if stage == "queued":
        body.update(is_pending=True, id=None, command="qa run --input A.jpg", data={"job_options": {}})
    elif stage == "running":
        body.update(is_pending=True, is_running=True)
    else:
        body.update(
            is_pending=False,
            is_running=False,
            metrics={"is_failed": False, "compute_time": 0.5} if metrics is None else metrics,
            data={"storage": 392},
        )
    return body


async def post_output(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/v1/output/", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def run_outputs(
    client: httpx.AsyncClient, metrics_by_input: dict[str, dict[str, Any]], **overrides: Any
) -> list[dict[str, Any]]:
    """Report finished runs, one per input, on one commit/batch."""
    return [
        await post_output(client, output_report(name, metrics=metrics, **overrides))
        for name, metrics in metrics_by_input.items()
    ]
