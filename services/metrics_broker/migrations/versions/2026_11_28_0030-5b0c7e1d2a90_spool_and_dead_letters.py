"""spool and dead letters: payloads acknowledged while InfluxDB could not take them

Revision ID: 5b0c7e1d2a90
Revises:
Create Date: 2026-11-28 00:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b0c7e1d2a90"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute('CREATE SCHEMA IF NOT EXISTS "metrics_broker"')
    op.create_table(
        "spooled_payload",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("database", sa.Text(), nullable=False),
        sa.Column(
            "lines",
            sa.Text(),
            nullable=False,
            comment="Line protocol, one point per line, timestamps included",
        ),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spooled_payload")),
        schema="metrics_broker",
    )
    op.create_table(
        "dead_letter",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("database", sa.Text(), nullable=False),
        sa.Column("lines", sa.Text(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, comment="InfluxDB's own words"),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rejected_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letter")),
        schema="metrics_broker",
    )


def downgrade() -> None:
    op.drop_table("dead_letter", schema="metrics_broker")
    op.drop_table("spooled_payload", schema="metrics_broker")
