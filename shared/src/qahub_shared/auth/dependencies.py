"""FastAPI side of authentication: read the `Authorization` header, verify, yield the `Principal`.

Each service puts an `Authenticator` in its lifespan state as `authenticator`; routes then declare
`caller: Caller` (a token is required) or `caller: MaybeCaller` (a token is optional but, when sent, must
be valid), and check scopes with `caller.require(Scope.RUNS_WRITE, project)`.

Both `Bearer <token>` and `JWT <token>` (what the TF-A metrics tools send) are accepted.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from qahub_shared.auth.principal import Principal
from qahub_shared.auth.revocations import RevocationList
from qahub_shared.auth.tokens import TokenVerifier, unauthorized

_SCHEMES = ("bearer", "jwt")


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization` header; None when there is no header."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() not in _SCHEMES or not token or " " in token:
        raise unauthorized("The Authorization header must be 'Bearer <token>'.")
    return token


class Authenticator:
    """Verifies a request's token and checks that it is not revoked."""

    def __init__(self, verifier: TokenVerifier, revocations: RevocationList) -> None:
        self.verifier = verifier
        self.revocations = revocations

    async def authenticate(self, authorization: str | None) -> Principal | None:
        token = bearer_token(authorization)
        if token is None:
            return None
        principal = await self.verifier.verify(token)
        if self.revocations.is_revoked(principal.token_id):
            raise unauthorized("The token has been revoked.")
        return principal


# Declared so the OpenAPI document (and /docs' "Authorize" button) knows about bearer tokens; the header
# itself is parsed by `bearer_token`, which also accepts the `JWT` scheme.
_openapi_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    bearerFormat="JWT",
    description="A QA Hub token: `qahub login`, or `qahub token create` for CI.",
)


async def principal_of(request: Request) -> Principal | None:
    """The verified caller of `request`; None without a token (for routes that take the request itself)."""
    authenticator: Authenticator = request.state.authenticator
    return await authenticator.authenticate(request.headers.get("authorization"))


async def optional_principal(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(_openapi_scheme)],
) -> Principal | None:
    return await principal_of(request)


async def current_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise unauthorized("This endpoint needs a token: send 'Authorization: Bearer <token>'.")
    return principal


Caller = Annotated[Principal, Depends(current_principal)]
MaybeCaller = Annotated[Principal | None, Depends(optional_principal)]
