"""SQL for users and the tokens they own."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, literal, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from qa_api.models import ApiToken, User, api_token_table, user_table

U = user_table.c
T = api_token_table.c


async def count_users(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(user_table))).scalar_one())


async def insert_user(session: AsyncSession, user: User) -> bool:
    """Insert unless the username is taken; whether it was inserted."""
    values = user.model_dump(exclude={"id", "created_at", "disabled_at"})
    inserted = await session.execute(
        insert(User).values(**values).on_conflict_do_nothing(index_elements=["username"]).returning(U.id)
    )
    return inserted.scalar_one_or_none() is not None


async def get_user(session: AsyncSession, username: str) -> User | None:
    return (await session.execute(select(User).where(U.username == username))).scalar_one_or_none()


async def list_users(session: AsyncSession, *, after: str | None, limit: int) -> Sequence[User]:
    query = select(User).order_by(U.username).limit(limit)
    if after is not None:
        query = query.where(U.username > after)
    return (await session.execute(query)).scalars().all()


# Updates go through the tables, not the ORM classes: nothing in the session's identity map is touched
# (a refresh of an expired attribute would be a lazy load, which raises under asyncio).


async def set_password_hash(session: AsyncSession, user_id: int, password_hash: str) -> None:
    await session.execute(update(user_table).where(U.id == user_id).values(password_hash=password_hash))


async def disable_user(session: AsyncSession, user_id: int) -> datetime | None:
    """Disable the user (once); when they were disabled."""
    disabled = await session.execute(
        update(user_table)
        .where(U.id == user_id)
        .values(disabled_at=func.coalesce(U.disabled_at, func.now()))
        .returning(U.disabled_at)
    )
    disabled_at: datetime | None = disabled.scalar_one_or_none()
    return disabled_at


async def insert_token(session: AsyncSession, token: ApiToken) -> None:
    session.add(token)
    await session.flush()


async def forget_expired_sessions(session: AsyncSession, user_id: int) -> None:
    """Login tokens pile up, one per login: drop the user's expired ones."""
    await session.execute(
        api_token_table.delete().where(T.user_id == user_id, T.kind == "session", T.expires_at < func.now())
    )


async def forget_long_expired_tokens(session: AsyncSession, user_id: int, *, kept: timedelta) -> None:
    """API tokens pile up too when a client makes one per run (the metrics broker's `POST /auth` does):
    drop the user's tokens that expired longer than `kept` ago (listed as inactive until then)."""
    await session.execute(
        api_token_table.delete().where(
            T.user_id == user_id, T.kind == "api", T.expires_at < func.now() - literal(kept)
        )
    )


async def get_token(session: AsyncSession, token_id: uuid.UUID) -> tuple[ApiToken, str] | None:
    row = (
        await session.execute(
            select(ApiToken, U.username).join(user_table, U.id == T.user_id).where(T.id == token_id)
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1])


async def list_tokens(
    session: AsyncSession,
    *,
    owner_id: int | None,
    include_inactive: bool,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[tuple[ApiToken, str]]:
    """API tokens (not logins), newest first."""
    query = (
        select(ApiToken, U.username)
        .join(user_table, U.id == T.user_id)
        .where(T.kind == "api")
        .order_by(T.created_at.desc(), T.id.desc())
        .limit(limit)
    )
    if owner_id is not None:
        query = query.where(T.user_id == owner_id)
    if not include_inactive:
        query = query.where(T.revoked_at.is_(None), T.expires_at > func.now())
    if after is not None:
        query = query.where((T.created_at < after[0]) | ((T.created_at == after[0]) & (T.id < after[1])))
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


async def revoke_token(session: AsyncSession, token_id: uuid.UUID) -> datetime | None:
    """Revoke the token (once); when it was revoked."""
    revoked = await session.execute(
        update(api_token_table)
        .where(T.id == token_id)
        .values(revoked_at=func.coalesce(T.revoked_at, func.now()))
        .returning(T.revoked_at)
    )
    revoked_at: datetime | None = revoked.scalar_one_or_none()
    return revoked_at


async def revoke_tokens_of(session: AsyncSession, user_id: int) -> list[uuid.UUID]:
    """Revoke every live token of a user; the ids revoked."""
    revoked = await session.execute(
        update(api_token_table)
        .where(T.user_id == user_id, T.revoked_at.is_(None), T.expires_at > func.now())
        .values(revoked_at=func.now())
        .returning(T.id)
    )
    return list(revoked.scalars().all())


async def revoked_token_ids(session: AsyncSession) -> list[uuid.UUID]:
    """Revoked tokens that have not expired yet (a revoked, expired token is refused anyway)."""
    query = select(T.id).where(T.revoked_at.is_not(None), T.expires_at > func.now())
    return list((await session.execute(query)).scalars().all())
