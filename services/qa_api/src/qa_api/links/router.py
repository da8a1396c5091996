"""The web links the `qa` CLI prints, as QA-Board's web app serves them, led to the API's comparison.

`qaboard` 1.1.1 prints `Results: {QABOARD_URL}/{project}/commit/{sha[:10]}` (with `?batch=<label>`
unless the batch is `default`; failures add `selected_views=logs`, `qa check-bit-accuracy` adds
`?reference=<sha>&selected_views=bit_accuracy`). qa_api has no web app: such a link redirects to
`GET /api/v2/compare` for that commit, batch and reference, which answers its own 404 for an unknown
project or commit.

The route catches every `GET .../commit/<x>` no other route serves, so the app includes this router
last, and it is kept out of the OpenAPI document: a path whose first parameter holds slashes is no path
an OpenAPI client can build.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import TypeAdapter, ValidationError

from qahub_shared.errors import NotFound
from qahub_shared.schemas.identifiers import ProjectId

router = APIRouter(include_in_schema=False)

_PROJECT_ID: TypeAdapter[str] = TypeAdapter(ProjectId)


@router.get("/{project:path}/commit/{sha}")
async def commit_page(
    request: Request,
    project: Annotated[str, Path()],
    sha: Annotated[str, Path(max_length=255)],
    batch: Annotated[str | None, Query(max_length=255)] = None,
    reference: Annotated[str | None, Query(max_length=255)] = None,
) -> RedirectResponse:
    try:
        project = _PROJECT_ID.validate_python(project)
    except ValidationError:
        # no page of a project: answered as any path qa_api does not serve
        raise NotFound("Not Found") from None
    query = {"project": project, "commit": sha}
    if batch:
        query["batch"] = batch
    if reference:
        query["reference"] = reference
    root = request.scope.get("root_path", "")
    # a relative Location: right behind any proxy, whatever host and scheme the client used
    return RedirectResponse(f"{root}/api/v2/compare?{urlencode(query)}", status_code=307)
