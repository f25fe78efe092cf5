"""followers: the accounts that follow a school's accounts, what they did, and IT's watchlist

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 00:40:00
"""

from alembic import op
import sqlalchemy as sa
import monitor.models


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('follower',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('platform', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('handle', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('bio', sa.Text(), nullable=False),
    sa.Column('profile', sa.JSON(), nullable=True),
    sa.Column('first_seen_at', monitor.models.UTCDateTime(), nullable=False),
    sa.Column('followed_at', monitor.models.UTCDateTime(), nullable=True),
    sa.Column('unfollowed_at', monitor.models.UTCDateTime(), nullable=True),
    sa.Column('last_seen_at', monitor.models.UTCDateTime(), nullable=True),
    sa.Column('screening', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['source_id'], ['source.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source_id', 'account_id', name='uq_follower_source_account')
    )
    with op.batch_alter_table('follower', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_follower_source_id'), ['source_id'], unique=False)
    op.create_table('follower_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('follower_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('at', monitor.models.UTCDateTime(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['follower_id'], ['follower.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('follower_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_follower_event_follower_id'), ['follower_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_follower_event_at'), ['at'], unique=False)
    op.create_table('watchlist_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.String(length=64), nullable=True),
    sa.Column('platform', sa.String(length=32), nullable=True),
    sa.Column('account_id', sa.String(length=64), nullable=True),
    sa.Column('handle', sa.String(length=100), nullable=True),
    sa.Column('pattern', sa.String(length=200), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('added_by', sa.String(length=200), nullable=False),
    sa.Column('added_at', monitor.models.UTCDateTime(), nullable=False),
    sa.Column('expires_at', monitor.models.UTCDateTime(), nullable=True),
    sa.Column('removed_at', monitor.models.UTCDateTime(), nullable=True),
    sa.Column('removed_by', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('watchlist_entry', schema=None) as batch_op:
        batch_op.create_index('ix_watchlist_entry_platform_account', ['platform', 'account_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('watchlist_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_watchlist_entry_platform_account')
    op.drop_table('watchlist_entry')
    with op.batch_alter_table('follower_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_follower_event_at'))
        batch_op.drop_index(batch_op.f('ix_follower_event_follower_id'))
    op.drop_table('follower_event')
    with op.batch_alter_table('follower', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_follower_source_id'))
    op.drop_table('follower')
