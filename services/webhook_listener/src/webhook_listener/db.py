"""The listener's database: its tables, one async engine per process, and the constraint naming rules.

Tables (their names are the listener's own; they may share a database with qa_api's):

    repository   a registered repository: provider, `group/repo` path, webhook secret, clone URL
    delivery     the inbox: every verified webhook delivery, its raw body and its processing state
    sent_ref     where each branch and tag pointed when qa_api was last told, and to which projects
"""

from __future__ import annotations

import logging

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine

from qahub_shared import database

logger = logging.getLogger(__name__)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

DELIVERY_STATES = ("received", "processing", "done", "failed")

repository = Table(
    "repository",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("provider", Text, nullable=False),
    Column("path", Text, nullable=False),
    # HMAC needs the secret itself: it is stored as given, never logged, never returned by the API.
    Column("secret", Text, nullable=False),
    Column("clone_url", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("provider", "path"),
    CheckConstraint("provider IN ('gitlab', 'github')", name="provider"),
)

delivery = Table(
    "delivery",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("repository_id", BigInteger, ForeignKey("repository.id", ondelete="CASCADE"), nullable=False),
    Column("provider", Text, nullable=False),
    Column("event", Text, nullable=False),
    Column("idempotency_key", Text, nullable=False),
    Column("headers", JSONB, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("state", Text, nullable=False, server_default="received"),
    Column("reason", Text),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
    UniqueConstraint("repository_id", "idempotency_key"),
    CheckConstraint(f"state IN {DELIVERY_STATES!r}", name="state"),
    Index("ix_delivery_pending", "repository_id", "id", postgresql_where=text("state = 'received'")),
)

sent_ref = Table(
    "sent_ref",
    metadata,
    Column("repository_id", BigInteger, ForeignKey("repository.id", ondelete="CASCADE"), nullable=False),
    Column("kind", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("sha", Text, nullable=False),
    Column("projects", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("repository_id", "kind", "name"),
)


def create_engine(url: str, *, pool_size: int, statement_timeout_ms: int) -> AsyncEngine:
    return database.create_engine(
        url,
        application_name="webhook_listener",
        pool_size=pool_size,
        statement_timeout_ms=statement_timeout_ms,
    )
