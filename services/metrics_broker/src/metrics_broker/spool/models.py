"""The broker's tables, in its own PostgreSQL schema `metrics_broker` (so they never mix with qa_api's,
even in one database; its alembic version table lives there too)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Identity, Index, Integer, MetaData, Table, Text, func

SCHEMA = "metrics_broker"

metadata = MetaData(
    schema=SCHEMA,
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    },
)

spooled_payload = Table(
    "spooled_payload",
    metadata,
    # the order payloads were acknowledged in: the drainer writes them in this order
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("database", Text, nullable=False),
    Column("lines", Text, nullable=False, comment="Line protocol, one point per line, timestamps included"),
    Column("points", Integer, nullable=False),
    Column("accepted_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # each database drains on its own, oldest first
    Index(None, "database", "id"),
)

dead_letter = Table(
    "dead_letter",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("database", Text, nullable=False),
    Column("lines", Text, nullable=False),
    Column("points", Integer, nullable=False),
    Column("reason", Text, nullable=False, comment="InfluxDB's own words"),
    Column("accepted_at", DateTime(timezone=True), nullable=False),
    Column("rejected_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
