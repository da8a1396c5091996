"""Identity endpoints: logins, the public keys and revocations other services verify with, users, tokens."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from qa_api.deps import IdentityDep, SessionDep
from qa_api.identity import service
from qa_api.identity.schemas import (
    IssuedToken,
    LoginRequest,
    Revocations,
    TokenCreate,
    TokenPublic,
    UserCreate,
    Username,
    UserPublic,
    Whoami,
)
from qa_api.params import DEFAULT_LIMIT, Cursor, Limit
from qahub_shared.auth.dependencies import Caller
from qahub_shared.auth.keys import jwk_set
from qahub_shared.errors import InvalidInput
from qahub_shared.schemas.pagination import Page, decode_cursor, encode_cursor

router = APIRouter(tags=["identity"])

UsernamePath = Annotated[Username, Path(description="A username, e.g. `ada`.")]


@router.get(
    "/.well-known/jwks.json",
    summary="Public keys tokens are signed with (JWK Set)",
    response_model=dict[str, list[dict[str, str]]],
)
async def jwks(identity: IdentityDep) -> dict[str, Any]:
    """Every key the issuer publishes: the one that signs and any still verifying older tokens.
    Other services fetch and cache this to verify tokens locally."""
    return jwk_set(identity.issuer.public_keys)


@router.post("/api/v2/auth/login", summary="Log in with a password", status_code=200)
async def login(
    body: LoginRequest, request: Request, session: SessionDep, identity: IdentityDep
) -> IssuedToken:
    """A short-lived session token holding the user's scopes. Rate-limited per account and per address:
    too many attempts answer 429 with `Retry-After`."""
    address = request.client.host if request.client else "unknown"
    return await service.login(
        session,
        identity.issuer,
        identity.limits,
        identity.policy,
        username=body.username,
        password=body.password,
        address=address,
    )


@router.post("/api/v2/auth/logout", summary="Revoke the token of this request", status_code=200)
async def logout(caller: Caller, session: SessionDep, identity: IdentityDep) -> TokenPublic:
    return await service.revoke_token(session, identity.revocations, caller, uuid.UUID(caller.token_id))


@router.get("/api/v2/auth/whoami", summary="The caller, as its token says")
async def whoami(caller: Caller) -> Whoami:
    return Whoami(
        username=caller.subject,
        token_id=caller.token_id,
        kind=caller.kind,
        scopes=sorted(caller.scopes),
        projects=None if caller.projects is None else list(caller.projects),
        expires_at=caller.expires_at,
    )


@router.get("/api/v2/auth/revocations", summary="Revoked tokens that have not expired yet")
async def revocations(session: SessionDep) -> Revocations:
    """What every service reloads every `QAHUB_REVOCATION_REFRESH_SECONDS`. Token ids only: they grant
    nothing, so this needs no token."""
    return Revocations(revoked=await service.revoked_token_ids(session))


@router.post("/api/v2/users", summary="Create a user (admin)", status_code=201)
async def create_user(body: UserCreate, caller: Caller, session: SessionDep) -> UserPublic:
    return await service.create_user(session, caller, body)


@router.get("/api/v2/users", summary="List users (admin)")
async def list_users(
    caller: Caller, session: SessionDep, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> Page[UserPublic]:
    after = str(decode_cursor(cursor, keys={"username"})["username"]) if cursor else None
    found = await service.list_users(session, caller, after=after, limit=limit + 1)
    items = found[:limit]
    next_cursor = encode_cursor({"username": items[-1].username}) if len(found) > limit else None
    return Page[UserPublic](items=items, next_cursor=next_cursor)


@router.get("/api/v2/users/{username}", summary="Get a user (admin, or the user)")
async def get_user(username: UsernamePath, caller: Caller, session: SessionDep) -> UserPublic:
    return await service.get_user(session, caller, username)


@router.delete("/api/v2/users/{username}", summary="Disable a user and revoke their tokens (admin)")
async def disable_user(
    username: UsernamePath, caller: Caller, session: SessionDep, identity: IdentityDep
) -> UserPublic:
    return await service.disable_user(session, identity.revocations, caller, username)


@router.post("/api/v2/tokens", summary="Create an API token", status_code=201)
async def create_token(
    body: TokenCreate, caller: Caller, session: SessionDep, identity: IdentityDep
) -> IssuedToken:
    """The token is in the response, this once; QA Hub stores only its id. Needs a login (or admin)."""
    return await service.create_token(session, identity.issuer, identity.policy, caller, body)


def _token_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if cursor is None:
        return None
    position = decode_cursor(cursor, keys={"created_at", "id"})
    try:
        return datetime.fromisoformat(str(position["created_at"])), uuid.UUID(str(position["id"]))
    except ValueError as exc:
        raise InvalidInput("cursor: not a cursor this API issued") from exc


@router.get("/api/v2/tokens", summary="List API tokens")
async def list_tokens(
    caller: Caller,
    session: SessionDep,
    owner: Annotated[Username | None, Query(description="Admins: another user's tokens.")] = None,
    everyone: Annotated[bool, Query(description="Admins: every user's tokens.")] = False,
    include_inactive: Annotated[bool, Query(description="Also revoked and expired tokens.")] = False,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[TokenPublic]:
    """The caller's own API tokens, newest first (logins are not listed)."""
    found = await service.list_tokens(
        session,
        caller,
        owner=owner,
        everyone=everyone,
        include_inactive=include_inactive,
        after=_token_cursor(cursor),
        limit=limit + 1,
    )
    items = found[:limit]
    next_cursor = (
        encode_cursor({"created_at": items[-1].created_at.isoformat(), "id": str(items[-1].id)})
        if len(found) > limit
        else None
    )
    return Page[TokenPublic](items=items, next_cursor=next_cursor)


@router.delete("/api/v2/tokens/{token_id}", summary="Revoke a token (its owner or an admin)")
async def revoke_token(
    token_id: uuid.UUID, caller: Caller, session: SessionDep, identity: IdentityDep
) -> TokenPublic:
    """Effective at once on this server, and within `QAHUB_REVOCATION_REFRESH_SECONDS` on the others."""
    return await service.revoke_token(session, identity.revocations, caller, token_id)
