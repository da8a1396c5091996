"""The unmodified `qa` CLI (qaboard 1.1.1) reports a CI pipeline's runs to a live qa_api.

Each scenario has its own project id, so no test depends on another's commits. Expected values come
from the inputs and from what `qa/main.py`'s `run()` does with them (see `expected_metrics`).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from tests.qa_api.e2e.sample_project import CliRun, ProjectFactory, SampleProject

pytestmark = pytest.mark.e2e

INPUTS = {"a.txt": "10", "b.txt": "20", "c.txt": "60", "d.txt": "-5", "broken.txt": "not a number"}
SUCCEEDED = ("a.txt", "b.txt", "c.txt")
BATCHES = {"my-batch": list(INPUTS), "failing": ["d.txt", "broken.txt"]}
SUMMARY_METRICS = ("psnr", "loss")


def expected_metrics(input_name: str) -> dict[str, Any]:
    """What `run()` in the sample project's qa/main.py reports for an input (without compute_time)."""
    try:
        value = float(INPUTS[input_name])
    except ValueError:
        return {"is_failed": True}  # run() raised: the CLI reports a failed run and no metrics
    return {"psnr": 2 * value, "loss": 1 / value, "is_failed": value < 0}


@dataclass(frozen=True)
class Pipeline:
    """A CI pipeline that ran `qa batch my-batch` on the first commit of a project."""

    project: SampleProject
    sha: str
    batch: CliRun


@pytest.fixture(scope="module")
def pipeline(make_project: ProjectFactory) -> Pipeline:
    project = make_project("acme/vision", inputs=INPUTS, batches=BATCHES)
    sha = project.commit("Add the vision QA")
    # `qa batch` exits 1 when a run failed, as it learns from QA-Board at the end of the batch
    batch = project.qa("batch", "my-batch", sha=sha, expect_exit=1)
    return Pipeline(project=project, sha=sha, batch=batch)


def get(api: httpx.Client, path: str, **params: str) -> Any:
    response = api.get(path, params=params)
    assert response.status_code == 200, f"GET {path} {params} -> {response.status_code}: {response.text}"
    return response.json()


def v1_commit(api: httpx.Client, project: SampleProject, sha: str) -> dict[str, Any]:
    """The commit as `qa batch` and QA-Board's web app ask for it, with every batch and output."""
    metrics = json.dumps(dict.fromkeys(SUMMARY_METRICS, 0))
    commit: dict[str, Any] = get(api, f"/api/v1/commit/{sha}", project=project.name, metrics=metrics)
    return commit


def outputs_by_input(batch: dict[str, Any]) -> dict[str, dict[str, Any]]:
    outputs: dict[str, dict[str, Any]] = {
        output["test_input_path"]: output for output in batch["outputs"].values()
    }
    assert len(outputs) == len(batch["outputs"]), "two outputs of the batch share an input"
    return outputs


def v2_outputs(api: httpx.Client, batch_id: int) -> dict[str, dict[str, Any]]:
    page = get(api, f"/api/v2/batches/{batch_id}/outputs", limit="100")
    assert page["next_cursor"] is None
    return {output["test_input"]["path"]: output for output in page["items"]}


def reference(api: httpx.Client, project: SampleProject) -> str:
    """The commit `GET /api/v1/commit/?branch=master&batch=default` picks as the reference."""
    commit = get(api, "/api/v1/commit/", project=project.name, branch="master", batch="default")
    sha: str = commit["id"]
    return sha


def without_compute_time(metrics: dict[str, Any]) -> dict[str, Any]:
    assert isinstance(metrics.get("compute_time"), float), metrics
    assert metrics["compute_time"] >= 0
    return {name: value for name, value in metrics.items() if name != "compute_time"}


def directory_of(output_dir_url: str) -> Path:
    """How the CLI maps `output_dir_url` back to a directory (`qaboard.api.url_to_dir`)."""
    return Path(unquote(output_dir_url)[2:])


def test_a_ci_batch_registers_the_commit_on_its_branch_with_its_git_metadata(
    pipeline: Pipeline, api: httpx.Client
) -> None:
    commit = get(api, f"/api/v2/commits/{pipeline.sha}", project="acme/vision")
    v1 = v1_commit(api, pipeline.project, pipeline.sha)

    assert commit["sha"] == v1["id"] == pipeline.sha
    assert commit["branches"] == ["master"]
    assert commit["tags"] == []
    assert v1["branch"] == "master"
    assert commit["message"] == "Add the vision QA"
    assert (commit["committer_name"], commit["committer_email"]) == ("Jane Dev", "jane@example.com")
    assert commit["parents"] == []  # the repository's first commit
    assert [batch["label"] for batch in commit["batches"]] == ["default"]


def test_the_cli_reports_each_run_queued_then_running_then_finished(
    pipeline: Pipeline, api: httpx.Client
) -> None:
    requests = [f"{line.method} {line.path}" for line in pipeline.batch.requests]
    runs = len(INPUTS)
    batch = v1_commit(api, pipeline.project, pipeline.sha)["batches"]["default"]
    (command,) = batch["data"]["commands"].values()

    # one command registration, then per run: queued by `qa batch`, started and ended by `qa run`
    assert requests.count("POST /api/v1/batch/") == 1
    assert requests.count("POST /api/v1/output/") == 3 * runs
    # before (existing results, none yet) and after (the runs' statuses) the batch
    assert requests.count(f"GET /api/v1/commit/{pipeline.sha}") == 2
    assert len(requests) == 3 + 3 * runs, pipeline.batch.describe()
    # without runners configured but `local`, the CLI runs on this machine
    assert command["runner"] == "local"
    assert command["argv"][1:] == ["batch", "my-batch"]


def test_the_project_is_registered_with_its_config_and_metric_definitions(
    pipeline: Pipeline, api: httpx.Client
) -> None:
    project = get(api, "/api/v2/projects/acme/vision")

    assert project["id"] == "acme/vision"
    assert project["config"]["project"]["reference_branch"] == "master"
    assert project["config"]["storage"] == {"linux": str(pipeline.project.storage)}
    assert project["metric_definitions"]["summary_metrics"] == list(SUMMARY_METRICS)
    assert project["metric_definitions"]["available_metrics"]["loss"] == {
        "label": "Loss",
        "smaller_is_better": True,
    }


def test_the_batch_has_one_output_per_input_with_the_status_its_run_ended_with(
    pipeline: Pipeline, api: httpx.Client
) -> None:
    batch = v1_commit(api, pipeline.project, pipeline.sha)["batches"]["default"]
    outputs = outputs_by_input(batch)
    statuses = {path: output["status"] for path, output in v2_outputs(api, batch["id"]).items()}

    assert set(outputs) == set(INPUTS)
    assert statuses == {name: "finished" if name in SUCCEEDED else "failed" for name in INPUTS}
    for name, output in outputs.items():
        assert output["is_failed"] is (name not in SUCCEEDED), name
        assert (output["is_pending"], output["is_running"]) == (False, False), name
        assert output["test_input_database"] == str(pipeline.project.inputs)
        assert (output["platform"], output["configurations"], output["extra_parameters"]) == (
            "linux",
            [],
            {},
        )
        assert output["data"]["user"] == "ci-runner"
        assert output["data"]["batch"] == "my-batch"
    assert (batch["valid_outputs"], batch["failed_outputs"], batch["pending_outputs"]) == (3, 2, 0)


def test_each_output_has_the_metrics_its_run_returned(pipeline: Pipeline, api: httpx.Client) -> None:
    batch = v1_commit(api, pipeline.project, pipeline.sha)["batches"]["default"]
    v1 = outputs_by_input(batch)
    v2 = v2_outputs(api, batch["id"])

    for name in INPUTS:
        assert without_compute_time(v1[name]["metrics"]) == expected_metrics(name), name
        assert v2[name]["metrics"] == v1[name]["metrics"], name


def test_output_dir_url_leads_to_the_files_the_run_wrote(pipeline: Pipeline, api: httpx.Client) -> None:
    batch = v1_commit(api, pipeline.project, pipeline.sha)["batches"]["default"]
    v2 = v2_outputs(api, batch["id"])
    # the CLI's layout: <storage>/<project>/<sha[:2]>/<sha[2:16]>/output/<platform>/<input stem>
    commit_dir = pipeline.project.storage / "acme/vision" / pipeline.sha[:2] / pipeline.sha[2:16]

    for name, output in outputs_by_input(batch).items():
        directory = directory_of(output["output_dir_url"])
        assert directory == commit_dir / "output" / "linux" / Path(name).stem
        assert v2[name]["output_dir"] == str(directory)
        assert json.loads((directory / "run.json").read_text())["input_path"] == name
        if name in SUCCEEDED:
            value = json.loads((directory / "result.json").read_text())["value"]
            assert value == float(INPUTS[name])
        # the size the CLI measured from its manifest of the run's files
        manifest = json.loads((directory / "manifest.outputs.json").read_text())
        size = sum(entry["st_size"] for entry in manifest.values())
        assert output["data"]["storage"] == v2[name]["storage_size"] == size, name
    assert directory_of(batch["batch_dir_url"]) == commit_dir / "output"


def test_the_commit_summary_counts_statuses_and_aggregates_only_successful_runs(
    pipeline: Pipeline, api: httpx.Client
) -> None:
    commit = get(api, f"/api/v2/commits/{pipeline.sha}", project="acme/vision", metrics="psnr,loss")
    (summary,) = commit["batches"]
    v1_aggregates = v1_commit(api, pipeline.project, pipeline.sha)["batches"]["default"]["aggregated_metrics"]

    assert summary["outputs"] == {"queued": 0, "running": 0, "finished": 3, "failed": 2, "total": 5}
    for metric in SUMMARY_METRICS:
        # d.txt reported its metrics but failed: it must not count
        values = [expected_metrics(name)[metric] for name in SUCCEEDED]
        assert summary["metrics"][metric] == {
            "median": pytest.approx(statistics.median(values)),
            "mean": pytest.approx(statistics.mean(values)),
            "min": pytest.approx(min(values)),
            "max": pytest.approx(max(values)),
            "count": len(values),
        }, metric
        assert v1_aggregates[f"{metric}_median"] == pytest.approx(statistics.median(values))
        assert v1_aggregates[f"{metric}_average"] == pytest.approx(statistics.mean(values))


def test_the_reference_lookup_returns_the_master_commit_with_results(
    pipeline: Pipeline, api: httpx.Client
) -> None:
    by_default = get(api, "/api/v1/commit/", project="acme/vision", batch="default")

    assert reference(api, pipeline.project) == pipeline.sha
    # without `branch`: the project's reference_branch from qaboard.yaml
    assert by_default["id"] == pipeline.sha


def test_rerunning_a_batch_updates_its_outputs_instead_of_adding_new_ones(
    make_project: ProjectFactory, api: httpx.Client
) -> None:
    project = make_project("acme/rerun", inputs=INPUTS, batches=BATCHES)
    sha = project.commit("Add the QA")
    project.qa("batch", "my-batch", sha=sha, expect_exit=1)
    batch_id = v1_commit(api, project, sha)["batches"]["default"]["id"]
    before = v2_outputs(api, batch_id)

    project.qa("batch", "my-batch", sha=sha, expect_exit=1)
    commit = v1_commit(api, project, sha)
    after = v2_outputs(api, batch_id)

    assert list(commit["batches"]) == ["default"]
    assert commit["batches"]["default"]["id"] == batch_id
    assert {name: output["id"] for name, output in after.items()} == {
        name: output["id"] for name, output in before.items()
    }
    assert len(after) == len(INPUTS)
    for name in INPUTS:
        # reported again by the second run, with the same results
        assert _moment(after[name]["updated_at"]) > _moment(before[name]["updated_at"]), name
        assert without_compute_time(after[name]["metrics"]) == expected_metrics(name), name
        assert after[name]["status"] == before[name]["status"], name


def test_a_batch_label_is_a_separate_batch_of_the_same_commit(
    make_project: ProjectFactory, api: httpx.Client
) -> None:
    project = make_project("acme/labels", inputs=INPUTS, batches=BATCHES)
    sha = project.commit("Add the QA")
    project.qa("batch", "my-batch", sha=sha, expect_exit=1)
    project.qa("--label", "nightly", "batch", "my-batch", sha=sha, expect_exit=1)

    batches = v1_commit(api, project, sha)["batches"]
    default, nightly = outputs_by_input(batches["default"]), outputs_by_input(batches["nightly"])

    assert set(batches) == {"default", "nightly"}
    assert set(nightly) == set(default) == set(INPUTS)
    assert not {output["id"] for output in nightly.values()} & {output["id"] for output in default.values()}
    for name in INPUTS:
        directory = directory_of(nightly[name]["output_dir_url"])
        assert directory != directory_of(default[name]["output_dir_url"]), name
        assert directory.is_relative_to(directory_of(batches["nightly"]["batch_dir_url"])), name
        assert json.loads((directory / "run.json").read_text())["input_path"] == name
        assert without_compute_time(nightly[name]["metrics"]) == expected_metrics(name), name
    assert reference(api, project) == sha


def test_the_reference_moves_to_a_newer_master_commit_once_it_has_successful_results(
    make_project: ProjectFactory, api: httpx.Client
) -> None:
    project = make_project("acme/history", inputs=INPUTS, batches=BATCHES)
    first = project.commit("Add the QA")
    project.qa("batch", "my-batch", sha=first, expect_exit=1)
    assert reference(api, project) == first

    second = project.commit("Tune the denoiser", files={"README.md": "Tuned.\n"})
    project.qa("save-artifacts", sha=second)
    saved = get(api, f"/api/v2/commits/{second}", project=project.name)
    artifacts = directory_of(v1_commit(api, project, second)["artifacts_url"])
    assert (saved["parents"], saved["branches"], saved["batches"]) == ([first], ["master"], [])
    assert (artifacts / "qa" / "main.py").read_text() == (project.repo / "qa" / "main.py").read_text()
    assert reference(api, project) == first, "a commit without results is not a reference"

    project.qa("batch", "failing", sha=second, expect_exit=1)
    assert reference(api, project) == first, "a commit whose runs all failed is not a reference"

    project.qa("batch", "my-batch", sha=second, expect_exit=1)
    listed = get(api, "/api/v2/commits", project=project.name)
    assert reference(api, project) == second
    assert [commit["sha"] for commit in listed["items"]] == [second, first]

    # CI re-run on the older commit: it gets fresh results, but it is still the older commit
    project.qa("batch", "my-batch", sha=first, expect_exit=1)
    assert reference(api, project) == second


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value)
