"""reliability: credential pauses, failure episodes, paid reads, delivery outcomes

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 19:30:00
"""

from alembic import op
import sqlalchemy as sa
import monitor.models


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('source', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paused_at', monitor.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('paused_fingerprint', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('failing_since', monitor.models.UTCDateTime(),
                                      nullable=True))
        batch_op.add_column(sa.Column('failure_notified', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table('poll_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('backfill', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_attempt_at', monitor.models.UTCDateTime(),
                                      nullable=True))
        batch_op.add_column(sa.Column('possible_repeat', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.create_table('paid_read',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=32), nullable=False),
    sa.Column('resource', sa.String(length=120), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('backfill', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['source.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('platform', 'resource', 'day', name='uq_paid_read_resource_day')
    )
    with op.batch_alter_table('paid_read', schema=None) as batch_op:
        batch_op.create_index('ix_paid_read_source_day', ['source_id', 'day'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('paid_read', schema=None) as batch_op:
        batch_op.drop_index('ix_paid_read_source_day')
    op.drop_table('paid_read')
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_column('possible_repeat')
        batch_op.drop_column('first_attempt_at')
    with op.batch_alter_table('poll_run', schema=None) as batch_op:
        batch_op.drop_column('backfill')
    with op.batch_alter_table('source', schema=None) as batch_op:
        batch_op.drop_column('failure_notified')
        batch_op.drop_column('failing_since')
        batch_op.drop_column('paused_fingerprint')
        batch_op.drop_column('paused_at')
