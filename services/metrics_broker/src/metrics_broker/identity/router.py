"""`POST /auth`."""

from __future__ import annotations

from fastapi import APIRouter, Request

from metrics_broker.deps import IssuerDep
from metrics_broker.identity.schemas import AuthRequest, AuthToken
from qahub_shared.errors import ERROR_RESPONSES

router = APIRouter(tags=["identity"])


@router.post(
    "/auth",
    summary="Log in: a metrics:write token for a QA Hub user",
    responses={
        **ERROR_RESPONSES,
        401: {**ERROR_RESPONSES[401], "description": "Wrong username or password"},
        403: {**ERROR_RESPONSES[403], "description": "The user may not write metrics"},
        429: {**ERROR_RESPONSES[422], "description": "Too many login attempts (Retry-After)"},
    },
)
async def auth(body: AuthRequest, request: Request, issuer: IssuerDep) -> AuthToken:
    """TF-A's login: `{"username", "password"}` of a QA Hub user → `{"access_token"}`, a token scoped
    `metrics:write` only, expiring after `QAHUB_AUTH_TOKEN_TTL_HOURS`, revocable with `qahub token revoke`."""
    token = await issuer.metrics_token(
        username=body.username,
        password=body.password,
        client_address=request.client.host if request.client else None,
    )
    return AuthToken(access_token=token)
