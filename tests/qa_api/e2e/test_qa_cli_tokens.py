"""The `qa` CLI with QA Hub tokens: a token made with `qahub token create` lets it upload to its projects,
and nothing else. The CLI sends `$QA_TOKEN` as `Authorization: Bearer`; when a write is refused it only
prints a warning and carries on, so these tests look at what qa_api answered and at what it stored.
"""

from __future__ import annotations

import httpx
import pytest

from tests.qa_api.e2e.conftest import Qahub, create_token
from tests.qa_api.e2e.sample_project import CliRun, ProjectFactory

pytestmark = pytest.mark.e2e

INPUTS = {"a.txt": "10", "b.txt": "20"}
BATCHES = {"my-batch": list(INPUTS)}
WRITES = ("POST", "PUT", "DELETE")


def writes_of(run: CliRun) -> list[tuple[str, str, int]]:
    return [(line.method, line.path, line.status) for line in run.requests if line.method in WRITES]


def stored(api: httpx.Client, project: str, sha: str) -> bool:
    response = api.get(f"/api/v2/commits/{sha}", params={"project": project})
    assert response.status_code in (200, 404), response.text
    return response.status_code == 200


def test_the_ci_token_made_with_qahub_uploads_a_batch_to_its_project(
    make_project: ProjectFactory, api: httpx.Client, ci_token: str
) -> None:
    project = make_project("acme/uploads", inputs=INPUTS, batches=BATCHES, token=ci_token)
    sha = project.commit("Add the QA")

    run = project.qa("batch", "my-batch", sha=sha)

    assert writes_of(run), "the CLI made no write at all"
    assert {status for _, _, status in writes_of(run)} == {200}
    commit = api.get(f"/api/v1/commit/{sha}", params={"project": project.name}).json()
    outputs = commit["batches"]["default"]["outputs"].values()
    assert sorted(output["test_input_path"] for output in outputs) == sorted(INPUTS)
    assert all(not output["is_pending"] and not output["is_failed"] for output in outputs)


def test_without_a_token_every_write_is_refused_with_401_and_nothing_is_stored(
    make_project: ProjectFactory, api: httpx.Client
) -> None:
    project = make_project("acme/anonymous", inputs=INPUTS, batches=BATCHES, token=None)
    sha = project.commit("Add the QA")

    run = project.qa("batch", "my-batch", sha=sha, expect_exit=None, check=False)

    assert writes_of(run), "the CLI made no write at all"
    assert {status for _, _, status in writes_of(run)} == {401}, run.describe()
    assert "Failed to update QA-Board" in run.transcript
    assert not stored(api, project.name, sha)


def test_a_token_for_other_projects_is_refused_with_403_and_nothing_is_stored(
    make_project: ProjectFactory, api: httpx.Client, ci_token: str
) -> None:
    project = make_project("umbrella/vision", inputs=INPUTS, batches=BATCHES, token=ci_token)
    sha = project.commit("Add the QA")

    run = project.qa("batch", "my-batch", sha=sha, expect_exit=None, check=False)

    assert writes_of(run), "the CLI made no write at all"
    assert {status for _, _, status in writes_of(run)} == {403}, run.describe()
    assert not stored(api, project.name, sha)


def test_a_revoked_token_is_refused_from_the_next_request_on(
    qahub: Qahub, make_project: ProjectFactory, api: httpx.Client
) -> None:
    token = create_token(
        qahub, "--name", "soon-revoked", "--scope", "runs:write", "--project", "acme/revoked"
    )
    project = make_project("acme/revoked", inputs=INPUTS, batches=BATCHES, token=token)
    first = project.commit("Add the QA")
    project.qa("batch", "my-batch", sha=first)
    token_id = api.get("/api/v2/auth/whoami", headers={"Authorization": f"Bearer {token}"}).json()["token_id"]

    revoked = qahub("token", "revoke", token_id)
    second = project.commit("Change the QA", {"qa/notes.txt": "v2"})
    run = project.qa("batch", "my-batch", sha=second, expect_exit=None, check=False)

    assert revoked.returncode == 0, revoked.stderr
    assert stored(api, project.name, first)
    assert {status for _, _, status in writes_of(run)} == {401}, run.describe()
    assert not stored(api, project.name, second)
