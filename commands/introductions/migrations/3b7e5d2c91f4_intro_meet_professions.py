"""intro meet professions

Revision ID: 3b7e5d2c91f4
Revises: c0808456928a
Create Date: 2026-11-29 15:45:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


import bot.storage.models

revision: str = '3b7e5d2c91f4'
down_revision: str | Sequence[str] | None = 'c0808456928a'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing profiles chose nobody yet: an empty list, so the column can be NOT NULL.
    with op.batch_alter_table('intro_profiles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('meet_professions', sa.JSON(), nullable=False, server_default='[]'))


def downgrade() -> None:
    with op.batch_alter_table('intro_profiles', schema=None) as batch_op:
        batch_op.drop_column('meet_professions')
