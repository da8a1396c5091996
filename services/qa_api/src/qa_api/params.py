"""Query parameters several routers parse the same way."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query
from pydantic import AfterValidator, TypeAdapter, ValidationError

from qahub_shared.errors import InvalidInput
from qahub_shared.schemas.identifiers import ProjectId
from qahub_shared.schemas.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, decode_cursor

MAX_METRICS = 50
_PROJECT_ID: TypeAdapter[str] = TypeAdapter(ProjectId)


def project_id(project: Annotated[str, Query(description="Project id, e.g. `group/repo`.")]) -> str:
    return valid_project_id(project, field="project")


def valid_project_id(value: str, *, field: str) -> str:
    """`value` if it is a valid project id; 422 naming `field` otherwise."""
    try:
        return _PROJECT_ID.validate_python(value)
    except ValidationError as exc:
        raise InvalidInput(f"{field}: {exc.errors()[0]['msg']}") from exc


ProjectParam = Annotated[str, Depends(project_id)]


def _without_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


# PostgreSQL text cannot hold NUL (asyncpg raises, a 500): a query parameter compared with a column
# refuses it with a 422 naming the parameter. Use it as `Annotated[str, Query(...), WithoutNul]`.
WithoutNul = AfterValidator(_without_nul)


def metric_names(raw: str | None) -> list[str]:
    """Metric names given as a JSON object (QA-Board: `{"psnr": 0}`), a JSON list, or `a,b,c`."""
    if raw is None or not raw.strip():
        return []
    names: Any
    if raw.lstrip().startswith(("{", "[")):
        try:
            names = json.loads(raw)
        except ValueError as exc:
            raise InvalidInput("metrics: not valid JSON") from exc
    else:
        names = [name.strip() for name in raw.split(",") if name.strip()]
    if isinstance(names, dict):
        names = list(names)
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise InvalidInput("metrics: expected metric names (a JSON object, a JSON list or a,b,c)")
    if len(names) > MAX_METRICS:
        raise InvalidInput(f"metrics: at most {MAX_METRICS} metrics per request")
    if any(len(name) > 255 or "\x00" in name for name in names):
        raise InvalidInput("metrics: a metric name is at most 255 characters, without NUL")
    return list(dict.fromkeys(names))


Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"Page size (at most {MAX_PAGE_SIZE}).")]
DEFAULT_LIMIT = DEFAULT_PAGE_SIZE
Cursor = Annotated[str | None, Query(max_length=512, description="`next_cursor` of the previous page.")]


def time_and_id_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    if cursor is None:
        return None
    position = decode_cursor(cursor, keys={"t", "id"})
    try:
        return datetime.fromisoformat(position["t"]), int(position["id"])
    except (TypeError, ValueError) as exc:
        raise InvalidInput("cursor: not a cursor this API issued") from exc


def id_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    position = decode_cursor(cursor, keys={"id"})
    if not isinstance(position["id"], int):
        raise InvalidInput("cursor: not a cursor this API issued")
    return position["id"]
