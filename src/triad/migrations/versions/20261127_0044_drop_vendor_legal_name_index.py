"""drop ix_vendor_legal_name: lists sort by name_key; every vendor write paid for it (decision 0037)

Revision ID: 0044
Revises: 0043
Create Date: 2026-11-27 01:30:00
"""

from __future__ import annotations

from alembic import op

revision = '0044'
down_revision = '0043'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('vendor', schema=None) as batch_op:
        batch_op.drop_index('ix_vendor_legal_name')


def downgrade() -> None:
    with op.batch_alter_table('vendor', schema=None) as batch_op:
        batch_op.create_index('ix_vendor_legal_name', ['legal_name'], unique=False)
