"""The idempotency keys of `POST /api/v1/points`, in the broker's schema."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Index, Table, Text, func

from metrics_broker.spool.models import metadata

idempotency_key = Table(
    "idempotency_key",
    metadata,
    Column("caller", Text, primary_key=True, comment="The token's subject (user): keys are per caller"),
    Column("key", Text, primary_key=True),
    Column("body_sha256", Text, nullable=False),
    Column("response", Text, nullable=True, comment="The first answer (JSON, as sent); NULL while it runs"),
    Column(
        "accepted_at_ns",
        BigInteger,
        nullable=True,
        comment="The moment points without time were stamped with (ns since the epoch), kept for retries",
    ),
    Column("claimed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index(None, "expires_at"),
)
