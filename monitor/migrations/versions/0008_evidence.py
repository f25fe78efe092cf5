"""evidence chain, evidence hold, a log of data removals, incident items by item

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 03:13:28.697698
"""

from alembic import op
import sqlalchemy as sa
import monitor.models


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('data_removal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('started_at', monitor.models.UTCDateTime(), nullable=False),
    sa.Column('finished_at', monitor.models.UTCDateTime(), nullable=True),
    sa.Column('by', sa.String(length=200), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('evidence_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.Column('item_id', sa.Integer(), nullable=True),
    sa.Column('recorded_at', monitor.models.UTCDateTime(), nullable=False),
    sa.Column('content', sa.JSON(), nullable=True),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('entry_hash', sa.String(length=64), nullable=False),
    sa.Column('removed_at', monitor.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('school_id', 'seq', name='uq_evidence_school_seq')
    )
    with op.batch_alter_table('evidence_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evidence_record_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_evidence_record_item_id'), ['item_id'], unique=False)

    with op.batch_alter_table('incident_item', schema=None) as batch_op:
        batch_op.create_index('ix_incident_item_item_id', ['item_id'], unique=False)

    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_incident_id'), ['incident_id'], unique=False)

    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('held_at', monitor.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('held_by', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('hold_reason', sa.Text(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_incident_id'))

    with op.batch_alter_table('incident_item', schema=None) as batch_op:
        batch_op.drop_index('ix_incident_item_item_id')

    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_column('hold_reason')
        batch_op.drop_column('held_by')
        batch_op.drop_column('held_at')

    with op.batch_alter_table('evidence_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evidence_record_item_id'))
        batch_op.drop_index(batch_op.f('ix_evidence_record_incident_id'))

    op.drop_table('evidence_record')
    op.drop_table('data_removal')
