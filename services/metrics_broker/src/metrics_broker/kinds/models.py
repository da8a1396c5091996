"""The custom kinds' table, in the broker's schema (beside the spool's tables)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Table, Text, func
from sqlalchemy.dialects.postgresql import JSONB

from metrics_broker.spool.models import metadata

custom_kind = Table(
    "custom_kind",
    metadata,
    Column("name", Text, primary_key=True),
    Column("project", Text, nullable=False, comment="The project namespace that owns it (who may write it)"),
    Column("database", Text, nullable=False),
    Column("definition", JSONB, nullable=False, comment="description, measurements, tags, fields, time"),
    Column("created_by", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
