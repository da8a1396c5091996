"""The web links the `qa` CLI prints (`Results: {QABOARD_URL}/{project}/commit/{sha}`) lead to the commit's
comparison instead of a 404, and never take a path an API route serves."""

from __future__ import annotations

from urllib.parse import quote

import httpx
from starlette.types import ASGIApp

from tests.qa_api.builders import PROJECT, run_outputs
from tests.qa_api.conftest import BASE_URL

REFERENCE = "1" * 40
COMMIT = "2" * 40
SUBPROJECT = f"{PROJECT}/sub/dir"


def results_url(qaboard_url: str, project: str, commit_id: str, batch_label: str) -> str:
    """`qaboard.api.print_url` (qaboard 1.1.1), as it builds the `Results:` link."""
    return f"{qaboard_url}/{project}/commit/{commit_id[:10] if commit_id else ''}{f'?batch={quote(batch_label)}' if batch_label != 'default' else ''}"  # noqa: E501


def bit_accuracy_url(
    qaboard_url: str, project: str, commit_id: str, reference_commit: str, batch: str
) -> str:
    """`qaboard.bit_accuracy` (qaboard 1.1.1), as it builds the link to investigate a difference."""
    url = (
        f"{qaboard_url}/{project}/commit/{commit_id}?reference={reference_commit}&selected_views=bit_accuracy"
    )
    return f"{url}&batch={batch}"


async def seed(client: httpx.AsyncClient, project: str = PROJECT) -> None:
    """Two commits of a project, in the default batch and in `nightly run`."""
    for sha, value, branch, when in [
        (REFERENCE, 40.0, "master", "2026-11-01T00:00:00Z"),
        (COMMIT, 44.0, "feature", "2026-11-02T00:00:00Z"),
    ]:
        for label in ("default", "nightly run"):
            await run_outputs(
                client,
                {"A.jpg": {"psnr": value}},
                project=project,
                sha=sha,
                commit_branch=branch,
                commit_authored_datetime=when,
                batch_label=label,
            )


async def test_the_results_link_leads_to_the_commits_comparison(client: httpx.AsyncClient) -> None:
    await seed(client)

    response = await client.get(results_url(BASE_URL, PROJECT, COMMIT, "default"), follow_redirects=True)

    assert [hop.status_code for hop in response.history] == [307]
    assert response.status_code == 200, response.text
    comparison = response.json()
    assert (comparison["project_id"], comparison["batch"]) == (PROJECT, "default")
    assert (comparison["commit"]["sha"], comparison["reference"]["sha"]) == (COMMIT, REFERENCE)
    assert comparison["metrics"]["psnr"]["median_delta"] == 4.0


async def test_the_links_of_a_batch_a_failure_and_a_bit_accuracy_check_carry_batch_and_reference(
    client: httpx.AsyncClient,
) -> None:
    await seed(client, SUBPROJECT)
    batch = results_url(BASE_URL, SUBPROJECT, COMMIT, "nightly run")
    failure = f"{batch}&selected_views=logs"  # `print_url(ctx, status="failure")`
    investigate = bit_accuracy_url(BASE_URL, SUBPROJECT, COMMIT, COMMIT, "nightly run")

    answers = [await client.get(url, follow_redirects=True) for url in (batch, failure, investigate)]

    for response in answers:
        assert response.status_code == 200, response.text
        assert response.json()["project_id"] == SUBPROJECT
        assert response.json()["batch"] == "nightly run"
    assert [answer.json()["reference"]["sha"] for answer in answers] == [REFERENCE, REFERENCE, COMMIT]


async def test_a_results_link_behind_a_root_path_redirects_below_it(app: ASGIApp) -> None:
    transport = httpx.ASGITransport(app=app, root_path="/qa")
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        response = await client.get(f"/qa/{PROJECT}/commit/{COMMIT[:10]}")

    assert response.status_code == 307
    assert response.headers["location"] == (
        f"/qa/api/v2/compare?project={quote(PROJECT, safe='')}&commit={COMMIT[:10]}"
    )


async def test_an_unknown_project_or_commit_ends_in_the_comparisons_own_404(
    client: httpx.AsyncClient,
) -> None:
    await seed(client)

    unknown_project = await client.get(
        results_url(BASE_URL, "nobody/here", COMMIT, "default"), follow_redirects=True
    )
    unknown_commit = await client.get(
        results_url(BASE_URL, PROJECT, "f" * 40, "default"), follow_redirects=True
    )

    for response in (unknown_project, unknown_commit):
        assert [hop.status_code for hop in response.history] == [307]
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


async def test_an_api_path_is_never_taken_for_a_projects_link(client: httpx.AsyncClient) -> None:
    await seed(client)

    v1 = await client.get(f"/api/v1/commit/{COMMIT}", params={"project": PROJECT})
    v1_no_such_method = await client.post(f"/api/v1/commit/{COMMIT}")
    not_a_project = await client.get(f"/not a project/commit/{COMMIT}")

    assert v1.status_code == 200, v1.text
    assert v1.json()["id"] == COMMIT  # QA-Board's commit, not a redirect
    assert v1_no_such_method.status_code == 405
    assert not_a_project.status_code == 404
    assert "location" not in not_a_project.headers
    assert not_a_project.json()["error"]["code"] == "not_found"
