"""Logins, users and API tokens: who may do what, and the rules a new token must follow.

Rules:
* A token never holds more than its owner: its scopes are a subset of the owner's, and its projects lie
  within the owner's projects. Admins hold every scope on every project.
* Tokens are created from a login (a `session` token) or by an admin; an API token cannot mint tokens.
* Revoking works at once in this process (`RevocationList.add`) and within the refresh interval in the
  others. Disabling a user revokes all their tokens.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from qa_api.identity import passwords, repository
from qa_api.identity.schemas import IssuedToken, TokenCreate, TokenPublic, UserCreate, UserPublic
from qa_api.models import ApiToken, User
from qahub_shared.auth.principal import Principal, Scope, TokenKind, expand, project_matches
from qahub_shared.auth.revocations import RevocationList
from qahub_shared.auth.tokens import Grant, TokenIssuer
from qahub_shared.errors import Conflict, Forbidden, InvalidInput, NotFound, TooManyRequests, Unauthorized
from qahub_shared.ratelimit import SlidingWindowLimiter

logger = logging.getLogger(__name__)

EXPIRED_TOKENS_KEPT = timedelta(days=30)
"""How long an expired API token stays listed (`include_inactive`) before its row is dropped."""


@dataclass(frozen=True)
class TokenPolicy:
    session_ttl: timedelta
    default_ttl: timedelta
    max_ttl: timedelta


@dataclass(frozen=True)
class LoginLimits:
    """Failed logins per account, and attempts per client address, in a sliding minute."""

    by_account: SlidingWindowLimiter
    by_address: SlidingWindowLimiter

    @classmethod
    def per_minute(cls, *, failures_per_account: int, attempts_per_address: int) -> LoginLimits:
        return cls(
            by_account=SlidingWindowLimiter(failures_per_account, 60.0),
            by_address=SlidingWindowLimiter(attempts_per_address, 60.0),
        )


def _user_scopes(user: User) -> frozenset[Scope]:
    return expand(Scope(scope) for scope in user.scopes)


def _public_user(user: User) -> UserPublic:
    assert user.created_at is not None
    return UserPublic(
        username=user.username,
        admin=Scope.ADMIN in user.scopes,
        scopes=sorted(Scope(scope) for scope in user.scopes),
        projects=user.projects,
        created_at=user.created_at,
        disabled_at=user.disabled_at,
    )


def public_token(token: ApiToken, owner: str) -> TokenPublic:
    assert token.created_at is not None
    return TokenPublic(
        id=token.id,
        name=token.name,
        owner=owner,
        kind=TokenKind(token.kind),
        scopes=sorted(Scope(scope) for scope in token.scopes),
        projects=token.projects,
        created_at=token.created_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        active=token.revoked_at is None and token.expires_at > datetime.now(UTC),
    )


async def has_users(session: AsyncSession) -> bool:
    async with session.begin():
        return await repository.count_users(session) > 0


async def bootstrap_admin(session: AsyncSession, *, username: str, password: str) -> bool:
    """Create the first admin when there is no user at all; whether it was created."""
    async with session.begin():
        if await repository.count_users(session) > 0:
            return False
        admin = User(
            username=username,
            password_hash=await passwords.hash_password(password),
            scopes=[Scope.ADMIN.value],
            projects=None,
        )
        return await repository.insert_user(session, admin)


async def _issue(
    session: AsyncSession,
    issuer: TokenIssuer,
    *,
    user: User,
    name: str,
    kind: TokenKind,
    scopes: Iterable[Scope],
    projects: Sequence[str] | None,
    lifetime: timedelta,
) -> IssuedToken:
    assert user.id is not None
    now = datetime.now(UTC).replace(microsecond=0)
    row = ApiToken(
        id=uuid.uuid4(),
        user_id=user.id,
        name=name,
        kind=kind.value,
        scopes=sorted(scope.value for scope in set(scopes)),
        projects=None if projects is None else list(projects),
        expires_at=now + lifetime,
    )
    await repository.insert_token(session, row)
    grant = Grant(
        subject=user.username,
        token_id=str(row.id),
        kind=kind,
        scopes=frozenset(Scope(scope) for scope in row.scopes),
        projects=None if row.projects is None else tuple(row.projects),
        issued_at=now,
        expires_at=row.expires_at,
    )
    return IssuedToken(
        access_token=issuer.issue(grant),
        token_id=row.id,
        expires_at=row.expires_at,
        scopes=sorted(grant.scopes),
        projects=row.projects,
    )


async def login(
    session: AsyncSession,
    issuer: TokenIssuer,
    limits: LoginLimits,
    policy: TokenPolicy,
    *,
    username: str,
    password: str,
    address: str,
) -> IssuedToken:
    """A session token for a username and password, under the login rate limits."""
    wait = max(limits.by_address.retry_after(address) or 0.0, limits.by_account.retry_after(username) or 0.0)
    if wait > 0:
        raise TooManyRequests(
            "Too many login attempts; wait before trying again.",
            headers={"Retry-After": str(math.ceil(wait))},
        )
    limits.by_address.hit(address)
    async with session.begin():
        user = await repository.get_user(session, username)
        valid = await passwords.verify_password(user.password_hash if user else None, password)
        if user is None or not valid or user.disabled_at is not None:
            limits.by_account.hit(username)
            logger.info("failed login for %r from %s", username, address)
            raise Unauthorized("Wrong username or password.")
        assert user.id is not None
        if passwords.needs_rehash(user.password_hash):
            await repository.set_password_hash(session, user.id, await passwords.hash_password(password))
        await repository.forget_expired_sessions(session, user.id)
        return await _issue(
            session,
            issuer,
            user=user,
            name="login",
            kind=TokenKind.SESSION,
            scopes=_user_scopes(user),
            projects=user.projects,
            lifetime=policy.session_ttl,
        )


def _require_admin(caller: Principal) -> None:
    caller.require(Scope.ADMIN)


async def create_user(session: AsyncSession, caller: Principal, body: UserCreate) -> UserPublic:
    _require_admin(caller)
    scopes = [Scope.ADMIN] if body.admin else sorted(set(body.scopes))
    user = User(
        username=body.username,
        password_hash=await passwords.hash_password(body.password),
        scopes=[scope.value for scope in scopes],
        projects=None if body.admin or body.projects is None else sorted(set(body.projects)),
    )
    async with session.begin():
        if not await repository.insert_user(session, user):
            raise Conflict(f"There is already a user '{body.username}'.")
        created = await repository.get_user(session, body.username)
    assert created is not None
    logger.info("user %r created by %r", created.username, caller.subject)
    return _public_user(created)


async def list_users(
    session: AsyncSession, caller: Principal, *, after: str | None, limit: int
) -> list[UserPublic]:
    _require_admin(caller)
    async with session.begin():
        return [_public_user(user) for user in await repository.list_users(session, after=after, limit=limit)]


async def get_user(session: AsyncSession, caller: Principal, username: str) -> UserPublic:
    if caller.subject != username:
        _require_admin(caller)
    async with session.begin():
        user = await repository.get_user(session, username)
    if user is None:
        raise NotFound(f"No user '{username}'.")
    return _public_user(user)


async def disable_user(
    session: AsyncSession, revocations: RevocationList, caller: Principal, username: str
) -> UserPublic:
    """Disable a user: no more logins, and every token they own is revoked."""
    _require_admin(caller)
    if username == caller.subject:
        raise Conflict("You cannot disable yourself; ask another admin.")
    async with session.begin():
        user = await repository.get_user(session, username)
        if user is None:
            raise NotFound(f"No user '{username}'.")
        assert user.id is not None
        disabled_at = await repository.disable_user(session, user.id)
        revoked = await repository.revoke_tokens_of(session, user.id)
    for token_id in revoked:
        revocations.add(str(token_id))
    logger.info("user %r disabled by %r; %d token(s) revoked", username, caller.subject, len(revoked))
    return _public_user(user).model_copy(update={"disabled_at": disabled_at})


def _covered(pattern: str, allowed: Sequence[str] | None) -> bool:
    """Whether every project `pattern` admits is admitted by one of `allowed` (None: all projects)."""
    if allowed is None:
        return True
    for outer in allowed:
        if outer == "*" or outer == pattern:
            return True
        if pattern != "*" and outer.endswith("/*") and project_matches(outer, pattern.removesuffix("/*")):
            return True
    return False


async def create_token(
    session: AsyncSession,
    issuer: TokenIssuer,
    policy: TokenPolicy,
    caller: Principal,
    body: TokenCreate,
) -> IssuedToken:
    """An API token, shown once. Created from a login, or by an admin (who may name another owner)."""
    if caller.kind is not TokenKind.SESSION and not caller.is_admin:
        raise Forbidden("API tokens cannot create tokens: log in (`qahub login`) and create it from there.")
    owner_name = body.owner or caller.subject
    if owner_name != caller.subject:
        _require_admin(caller)
    days = policy.default_ttl / timedelta(days=1) if body.expires_in_days is None else body.expires_in_days
    # compared as a number first: timedelta(days=1e308) would overflow
    if days > policy.max_ttl / timedelta(days=1):
        raise InvalidInput(f"expires_in_days: at most {policy.max_ttl.days} days on this server.")
    lifetime = timedelta(days=days)
    if lifetime < timedelta(minutes=1):
        raise InvalidInput("expires_in_days: at least one minute.")
    async with session.begin():
        owner = await repository.get_user(session, owner_name)
        if owner is None or owner.disabled_at is not None:
            raise NotFound(f"No active user '{owner_name}'.")
        granted = _user_scopes(owner)
        missing = sorted(scope.value for scope in set(body.scopes) if scope not in granted)
        if missing:
            raise Forbidden(f"User '{owner_name}' does not hold {', '.join(missing)}; a token cannot either.")
        projects = None if body.projects is None else sorted(set(body.projects))
        if projects is None and owner.projects is not None:
            raise Forbidden(
                f"User '{owner_name}' is restricted to {', '.join(owner.projects)}: restrict the token too."
            )
        outside = [p for p in projects or () if not _covered(p, owner.projects)]
        if outside:
            raise Forbidden(f"User '{owner_name}' may not reach {', '.join(outside)}.")
        assert owner.id is not None
        await repository.forget_long_expired_tokens(session, owner.id, kept=EXPIRED_TOKENS_KEPT)
        issued = await _issue(
            session,
            issuer,
            user=owner,
            name=body.name,
            kind=TokenKind.API,
            scopes=body.scopes,
            projects=projects,
            lifetime=lifetime,
        )
    logger.info(
        "token %s (%r) for %r created by %r: %s on %s until %s",
        issued.token_id,
        body.name,
        owner_name,
        caller.subject,
        " ".join(sorted(scope.value for scope in body.scopes)),
        ", ".join(projects) if projects else "every project",
        issued.expires_at.isoformat(),
    )
    return issued


async def list_tokens(
    session: AsyncSession,
    caller: Principal,
    *,
    owner: str | None,
    everyone: bool,
    include_inactive: bool,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[TokenPublic]:
    """The caller's API tokens; admins may list another user's (`owner`) or everyone's."""
    if everyone or (owner is not None and owner != caller.subject):
        _require_admin(caller)
    async with session.begin():
        owner_id = None
        if not everyone:
            user = await repository.get_user(session, owner or caller.subject)
            if user is None:
                raise NotFound(f"No user '{owner or caller.subject}'.")
            owner_id = user.id
        rows = await repository.list_tokens(
            session, owner_id=owner_id, include_inactive=include_inactive, after=after, limit=limit
        )
    return [public_token(token, username) for token, username in rows]


async def revoke_token(
    session: AsyncSession, revocations: RevocationList, caller: Principal, token_id: uuid.UUID
) -> TokenPublic:
    """Revoke a token: its owner (or the token itself) or an admin may. Revoking twice is harmless."""
    async with session.begin():
        found = await repository.get_token(session, token_id)
        if found is None:
            raise NotFound(f"No token {token_id}.")
        token, owner = found
        if owner != caller.subject:
            _require_admin(caller)
        revoked_at = await repository.revoke_token(session, token_id)
    revocations.add(str(token_id))
    logger.info("token %s of %r revoked by %r", token_id, owner, caller.subject)
    return public_token(token, owner).model_copy(update={"revoked_at": revoked_at, "active": False})


async def revoked_token_ids(session: AsyncSession) -> list[uuid.UUID]:
    async with session.begin():
        return await repository.revoked_token_ids(session)
