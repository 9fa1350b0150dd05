"""incident workspace: series snapshots, hypothesis log, silences

Revision ID: 0002_workspace
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = '0002_workspace'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('series_snapshots',
    sa.Column('incident_id', sa.String(length=64), nullable=False),
    sa.Column('series', sa.String(length=512), nullable=False),
    sa.Column('service', sa.String(length=253), nullable=False),
    sa.Column('signal', sa.String(length=253), nullable=False),
    sa.Column('points', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('incident_id', 'series')
    )
    op.create_table('hypotheses',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('incident_id', sa.String(length=64), nullable=False),
    sa.Column('cause', sa.JSON(), nullable=False),
    sa.Column('cause_key', sa.String(length=300), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), server_default='', nullable=False),
    sa.Column('actor', sa.String(length=253), server_default='', nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('hypotheses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hypotheses_incident_id'), ['incident_id'], unique=False)
    op.create_table('silences',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('service', sa.String(length=253), nullable=False),
    sa.Column('starts_at', sa.Float(), nullable=False),
    sa.Column('ends_at', sa.Float(), nullable=False),
    sa.Column('reason', sa.Text(), server_default='', nullable=False),
    sa.Column('actor', sa.String(length=253), server_default='', nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('silences', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_silences_ends_at'), ['ends_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('silences', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_silences_ends_at'))
    op.drop_table('silences')
    with op.batch_alter_table('hypotheses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hypotheses_incident_id'))
    op.drop_table('hypotheses')
    op.drop_table('series_snapshots')
