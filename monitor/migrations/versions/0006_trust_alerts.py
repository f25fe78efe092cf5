"""trust alerts: a trust's weekly roll-up is an alert about no single school

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 00:35:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.alter_column('school_id', existing_type=sa.String(length=64), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.alter_column('school_id', existing_type=sa.String(length=64), nullable=False)
