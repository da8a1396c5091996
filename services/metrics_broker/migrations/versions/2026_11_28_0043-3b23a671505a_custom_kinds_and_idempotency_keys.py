"""custom kinds (registered by an admin) and the idempotency keys of POST /api/v1/points

Revision ID: 3b23a671505a
Revises: 5b0c7e1d2a90
Create Date: 2026-11-28 00:43:14.362255+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sqlalchemy.dialects import postgresql
revision: str = '3b23a671505a'
down_revision: str | None = '5b0c7e1d2a90'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('custom_kind',
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('project', sa.Text(), nullable=False, comment='The project namespace that owns it (who may write it)'),
    sa.Column('database', sa.Text(), nullable=False),
    sa.Column('definition', postgresql.JSONB(astext_type=sa.Text()), nullable=False, comment='description, measurements, tags, fields, time'),
    sa.Column('created_by', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_custom_kind')),
    schema='metrics_broker'
    )
    op.create_table('idempotency_key',
    sa.Column('caller', sa.Text(), nullable=False, comment="The token's subject (user): keys are per caller"),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('body_sha256', sa.Text(), nullable=False),
    sa.Column('response', sa.Text(), nullable=True, comment='The first answer (JSON, as sent); NULL while it runs'),
    sa.Column('claimed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('caller', 'key', name=op.f('pk_idempotency_key')),
    schema='metrics_broker'
    )
    op.create_index(op.f('ix_idempotency_key_expires_at'), 'idempotency_key', ['expires_at'], unique=False, schema='metrics_broker')


def downgrade() -> None:
    op.drop_index(op.f('ix_idempotency_key_expires_at'), table_name='idempotency_key', schema='metrics_broker')
    op.drop_table('idempotency_key', schema='metrics_broker')
    op.drop_table('custom_kind', schema='metrics_broker')
