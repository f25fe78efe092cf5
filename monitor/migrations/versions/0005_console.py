"""console: incidents by harm with outcomes, structured alerts, staff accounts, one-time links

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 21:55:00
"""

from alembic import op
import sqlalchemy as sa
import monitor.models


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('harm', sa.String(length=32), nullable=False,
                                      server_default='hostility'))
        batch_op.add_column(sa.Column('outcome', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('resolved_by', sa.String(length=200), nullable=True))
    _label_existing_incidents()
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.create_index('ix_item_conversation', ['conversation_id', 'school_id'],
                              unique=False)
    with op.batch_alter_table('action', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_action_item_id'), ['item_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_action_incident_id'), ['incident_id'], unique=False)
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.add_column(sa.Column('details', sa.JSON(), nullable=True))
    op.create_table('staff_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('school_id', sa.String(length=64), nullable=True),
    sa.Column('password_hash', sa.Text(), nullable=True),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('session_version', sa.Integer(), nullable=False),
    sa.Column('created_at', monitor.models.UTCDateTime(), nullable=False),
    sa.Column('last_sign_in_at', monitor.models.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('email')
    )
    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_user_school_id'), ['school_id'], unique=False)
    op.create_table('used_link',
    sa.Column('token_id', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('used_at', monitor.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('token_id')
    )
    op.create_table('setting',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


# The harm of an incident opened before incidents were kept apart by harm: its most severe
# category's (a copy of the rule at this revision, as a migration must not follow later code).
_HARM_ORDER = (("threat", ("threat",)), ("safeguarding", ("safeguarding",)),
               ("personal_data", ("personal_data",)),
               ("hostility", ("hateful", "abusive", "disparaging")))


def _label_existing_incidents() -> None:
    connection = op.get_bind()
    incident = sa.table('incident', sa.column('id', sa.Integer()),
                        sa.column('categories', sa.JSON()), sa.column('harm', sa.String()))
    for row in connection.execute(sa.select(incident.c.id, incident.c.categories)).all():
        categories = set(row.categories or [])
        harm = next((h for h, members in _HARM_ORDER if categories & set(members)), None)
        if harm and harm != 'hostility':
            connection.execute(incident.update().where(incident.c.id == row.id)
                               .values(harm=harm))


def downgrade() -> None:
    op.drop_table('setting')
    op.drop_table('used_link')
    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_user_school_id'))
    op.drop_table('staff_user')
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_column('details')
    with op.batch_alter_table('action', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_action_incident_id'))
        batch_op.drop_index(batch_op.f('ix_action_item_id'))
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.drop_index('ix_item_conversation')
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_column('resolved_by')
        batch_op.drop_column('outcome')
        batch_op.drop_column('harm')
