"""the spool drains per database; idempotency keys keep the moment of their time-less points

Revision ID: 453226308f96
Revises: 3b23a671505a
Create Date: 2026-11-28 02:13:38.094382+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '453226308f96'
down_revision: str | None = '3b23a671505a'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('idempotency_key', sa.Column('accepted_at_ns', sa.BigInteger(), nullable=True, comment='The moment points without time were stamped with (ns since the epoch), kept for retries'), schema='metrics_broker')
    op.create_index(op.f('ix_spooled_payload_database_id'), 'spooled_payload', ['database', 'id'], unique=False, schema='metrics_broker')


def downgrade() -> None:
    op.drop_index(op.f('ix_spooled_payload_database_id'), table_name='spooled_payload', schema='metrics_broker')
    op.drop_column('idempotency_key', 'accepted_at_ns', schema='metrics_broker')
