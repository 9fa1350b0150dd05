"""paging: per-receiver message references (Slack ts); outbox indexes

Revision ID: 0004_paging
Revises: 0003_cluster
"""
import sqlalchemy as sa
from alembic import op

revision = '0004_paging'
down_revision = '0003_cluster'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('receiver_refs',
    sa.Column('dedup_key', sa.String(length=128), nullable=False),
    sa.Column('receiver', sa.String(length=128), nullable=False),
    sa.Column('ref', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('dedup_key', 'receiver')
    )
    # The outbox is read by (status, next_attempt_at); dedup_key finds an incident's earlier pages.
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_notifications_dedup_key', ['dedup_key'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_dedup_key')
        batch_op.drop_index('ix_notifications_due')
    op.drop_table('receiver_refs')
