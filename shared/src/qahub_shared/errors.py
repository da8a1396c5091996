"""One error hierarchy, rendered as one JSON envelope by every QA Hub service.

    QAHubError                 status  code
    ├── InvalidInput           422     invalid_input
    ├── NotFound               404     not_found
    ├── Conflict               409     conflict
    ├── PayloadTooLarge        413     payload_too_large
    ├── Unauthorized           401     unauthorized
    ├── Forbidden              403     forbidden
    ├── TooManyRequests        429     too_many_requests
    └── ServiceUnavailable     503     service_unavailable

Every error response, whatever raised it (our code, request validation, an unknown route, a bug), has the
shape of `ErrorEnvelope`:

    {"error": {"code": "not_found", "message": "...", "details": [...], "request_id": "..."}}
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from qahub_shared.logging import current_request_id

logger = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    """One precise problem, e.g. one invalid field of the body."""

    loc: list[str | int] = Field(default_factory=list, examples=[["body", "metrics", "psnr"]])
    message: str = Field(examples=["Input should be a finite number"])
    type: str | None = Field(default=None, examples=["finite_number"])


class ErrorBody(BaseModel):
    code: str = Field(examples=["not_found"])
    message: str = Field(examples=["No project 'group/repo'."])
    details: list[ErrorDetail] = Field(default_factory=list)
    request_id: str | None = Field(default=None, examples=["6f1c2d0e9b7a4c55"])


class ErrorEnvelope(BaseModel):
    """The body of every error response of every QA Hub service."""

    error: ErrorBody


class QAHubError(Exception):
    """Base of the errors a request handler may raise; each maps to one HTTP status."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        details: Sequence[ErrorDetail] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details)
        self.headers = headers


class InvalidInput(QAHubError):
    status_code = 422
    code = "invalid_input"


class NotFound(QAHubError):
    status_code = 404
    code = "not_found"


class Conflict(QAHubError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(QAHubError):
    status_code = 413
    code = "payload_too_large"


class Unauthorized(QAHubError):
    status_code = 401
    code = "unauthorized"


class Forbidden(QAHubError):
    status_code = 403
    code = "forbidden"


class TooManyRequests(QAHubError):
    status_code = 429
    code = "too_many_requests"


class ServiceUnavailable(QAHubError):
    status_code = 503
    code = "service_unavailable"


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
    503: "service_unavailable",
}

# Attach to every route so the OpenAPI document says what an error looks like.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope, "description": description}
    for status, description in [
        (401, "No token, or an invalid, expired or revoked one"),
        (403, "The token lacks the scope, or is not valid for the project"),
        (404, "Not found"),
        (413, "Request body too large"),
        (422, "Invalid input"),
        (503, "A dependency (e.g. the database) is unavailable"),
    ]
}


def error_response(
    status_code: int,
    code: str,
    message: str,
    details: Sequence[ErrorDetail] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorEnvelope(
        error=ErrorBody(code=code, message=message, details=list(details), request_id=current_request_id())
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=status_code, headers=headers)


def _json_safe(value: Any) -> Any:
    """Validation errors may echo NaN or bytes back; keep the envelope valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _validation_details(exc: RequestValidationError) -> list[ErrorDetail]:
    details = []
    for error in jsonable_encoder(exc.errors(), custom_encoder={float: _json_safe}):
        loc = [part if isinstance(part, int) else str(part) for part in error.get("loc", ())]
        # pydantic prefixes the messages of our own validators with "Value error, ": noise to a client
        message = str(error.get("msg")).removeprefix("Value error, ")
        details.append(ErrorDetail(loc=loc, message=message, type=error.get("type")))
    return details


def _validation_message(details: Sequence[ErrorDetail]) -> str:
    if not details:
        return "The request is invalid."
    first = details[0]
    where = ".".join(str(part) for part in first.loc) or "request"
    more = f" (and {len(details) - 1} more problem(s))" if len(details) > 1 else ""
    return f"{where}: {first.message}{more}"


async def _on_expected_error(_: Request, exc: Exception) -> JSONResponse:
    response = expected_error_response(exc)
    assert response is not None
    return response


def expected_error_response(exc: Exception) -> JSONResponse | None:
    """The envelope an exception handler of `install_error_handlers` answers for an expected error (ours,
    a validation error, an HTTP error); None for anything else (a bug)."""
    if isinstance(exc, QAHubError):
        return error_response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)
    if isinstance(exc, RequestValidationError):
        details = _validation_details(exc)
        return error_response(422, "invalid_input", _validation_message(details), details)
    if isinstance(exc, StarletteHTTPException):
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        headers = dict(exc.headers) if exc.headers else None
        return error_response(exc.status_code, code, message, headers=headers)
    return None


def internal_error(method: str, path: str, exc: BaseException) -> JSONResponse:
    """Log a bug with its traceback, and the 500 the client gets (with the request id, when bound)."""
    logger.error("unhandled error on %s %s", method, path, exc_info=exc)
    return error_response(500, "internal_error", "Internal error; the request id is in the logs.")


async def _on_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    return internal_error(request.method, request.url.path, exc)


def install_error_handlers(app: FastAPI) -> None:
    """Render every error, expected or not, as an `ErrorEnvelope`."""
    app.add_exception_handler(QAHubError, _on_expected_error)
    app.add_exception_handler(RequestValidationError, _on_expected_error)
    app.add_exception_handler(StarletteHTTPException, _on_expected_error)
    app.add_exception_handler(Exception, _on_unexpected_error)
