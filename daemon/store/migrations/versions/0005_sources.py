"""sources: a change's outcome (status, completed_at); the Alertmanager inbox

Revision ID: 0005_sources
Revises: 0004_paging
"""
import sqlalchemy as sa
from alembic import op

revision = '0005_sources'
down_revision = '0004_paging'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A rollout's outcome, learnt after the change was recorded (optional fields of the change JSON).
    with op.batch_alter_table('changes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=16), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('completed_at', sa.Float(), nullable=True))
    # Alerts received from Alertmanager, written before the webhook answers, marked once the core took them.
    op.create_table('alert_inbox',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=600), nullable=False),
    sa.Column('alert', sa.JSON(), nullable=False),
    sa.Column('received_at', sa.Float(), nullable=False),
    sa.Column('processed_at', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key', name='uq_alert_inbox_key')
    )
    with op.batch_alter_table('alert_inbox', schema=None) as batch_op:
        batch_op.create_index('ix_alert_inbox_pending', ['processed_at', 'id'], unique=False)
        batch_op.create_index('ix_alert_inbox_received_at', ['received_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('alert_inbox', schema=None) as batch_op:
        batch_op.drop_index('ix_alert_inbox_received_at')
        batch_op.drop_index('ix_alert_inbox_pending')
    op.drop_table('alert_inbox')
    with op.batch_alter_table('changes', schema=None) as batch_op:
        batch_op.drop_column('completed_at')
        batch_op.drop_column('status')
