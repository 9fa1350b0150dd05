"""scale-out: members, detections log, per-series detector states

Revision ID: 0003_cluster
Revises: 0002_workspace
"""
import sqlalchemy as sa
from alembic import op

revision = '0003_cluster'
down_revision = '0002_workspace'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('members',
    sa.Column('member', sa.String(length=253), nullable=False),
    sa.Column('address', sa.String(length=253), server_default='', nullable=False),
    sa.Column('started_at', sa.Float(), nullable=False),
    sa.Column('heartbeat_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('member')
    )
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_members_heartbeat_at'), ['heartbeat_at'], unique=False)

    op.create_table('detections',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('series', sa.String(length=512), nullable=False),
    sa.Column('service', sa.String(length=253), nullable=False),
    sa.Column('signal', sa.String(length=253), nullable=False),
    sa.Column('detection', sa.JSON(), nullable=False),
    sa.Column('member', sa.String(length=253), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('detections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_detections_created_at'), ['created_at'], unique=False)

    op.create_table('series_states',
    sa.Column('series', sa.String(length=512), nullable=False),
    sa.Column('signal', sa.String(length=253), nullable=False),
    sa.Column('state', sa.JSON(), nullable=False),
    sa.Column('member', sa.String(length=253), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('series')
    )


def downgrade() -> None:
    op.drop_table('series_states')
    with op.batch_alter_table('detections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_detections_created_at'))
    op.drop_table('detections')
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_members_heartbeat_at'))
    op.drop_table('members')
