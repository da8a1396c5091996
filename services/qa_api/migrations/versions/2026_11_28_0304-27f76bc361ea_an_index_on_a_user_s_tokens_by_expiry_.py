"""an index on a user's tokens by expiry: dropping expired ones at each new token or login reads only them

Revision ID: 27f76bc361ea
Revises: 88755772e189
Create Date: 2026-11-28 03:04:43.889403+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '27f76bc361ea'
down_revision: str | None = '88755772e189'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_api_token_user_id_expires_at', 'api_token', ['user_id', 'expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_api_token_user_id_expires_at', table_name='api_token')
