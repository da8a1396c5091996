"""JSON request bodies read and validated in one pass, for hot routes that take the `Request` itself.

FastAPI decodes a declared body with the standard library's JSON parser, then validates the Python
objects it made, and solves the route's dependencies with its general machinery: together most of a
small write's CPU. A hot route can instead take `request: Request`, call `json_body(request, Model)`
(pydantic validates the bytes directly) and document its body with `openapi_body(Model)`. Errors are
the ones FastAPI raises for a declared body (`RequestValidationError`, locations under `"body"`), so
clients see the same 422 envelope either way.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect

from qahub_shared.errors import QAHubError

M = TypeVar("M", bound=BaseModel)


class ClientGone(QAHubError):
    """The client went away before its body arrived (or the size cap cut it off): nobody reads this."""

    status_code = 400
    code = "bad_request"


def _is_json(content_type: str) -> bool:
    media_type = content_type.partition(";")[0].strip().lower()
    main, _, sub = media_type.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


async def raw_body(request: Request) -> bytes:
    """The request's body; `ClientGone` when the client left before it arrived (or the body size cap
    answered 413 and cut it off: to the app, the client is gone), rather than an unhandled error."""
    try:
        return await request.body()
    except ClientDisconnect:
        raise ClientGone("The client disconnected before its body arrived.") from None


async def json_body(request: Request, model: type[M]) -> M:
    """The request's body as a `model`; 422 (`RequestValidationError`) when it is not one."""
    content_type = request.headers.get("content-type")
    if content_type is not None and not _is_json(content_type):
        raise RequestValidationError(
            [
                {
                    "type": "model_attributes_type",
                    "loc": ("body",),
                    "msg": "The body must be JSON (Content-Type: application/json).",
                    "input": content_type,
                }
            ]
        )
    raw = await raw_body(request)
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        raise RequestValidationError(
            [{**detail, "loc": ("body", *detail["loc"])} for detail in error.errors(include_url=False)]
        ) from None


def openapi_body(model: type[BaseModel], *, description: str | None = None) -> dict[str, Any]:
    """`openapi_extra` that documents a route's JSON body as `model` (for routes using `json_body`)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    if "$defs" in schema:
        raise ValueError(f"{model.__name__} has nested models: declare them in the route's responses")
    body: dict[str, Any] = {"required": True, "content": {"application/json": {"schema": schema}}}
    if description:
        body["description"] = description
    return {"requestBody": body}
