"""initial schema

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('anomalies',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('series', sa.String(length=512), nullable=False),
    sa.Column('service', sa.String(length=253), nullable=False),
    sa.Column('signal', sa.String(length=253), nullable=False),
    sa.Column('onset', sa.Float(), nullable=False),
    sa.Column('detected_at', sa.Float(), nullable=False),
    sa.Column('direction', sa.String(length=8), nullable=False),
    sa.Column('before', sa.Float(), nullable=False),
    sa.Column('after', sa.Float(), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('recovered_at', sa.Float(), nullable=True),
    sa.Column('incident_id', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('series', 'onset', name='uq_anomaly_series_onset')
    )
    with op.batch_alter_table('anomalies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_anomalies_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_anomalies_onset'), ['onset'], unique=False)
        batch_op.create_index(batch_op.f('ix_anomalies_service'), ['service'], unique=False)

    op.create_table('changes',
    sa.Column('id', sa.String(length=200), nullable=False),
    sa.Column('ts', sa.Float(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('service', sa.String(length=253), nullable=False),
    sa.Column('namespace', sa.String(length=253), server_default='', nullable=False),
    sa.Column('summary', sa.Text(), server_default='', nullable=False),
    sa.Column('actor', sa.String(length=253), server_default='', nullable=False),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('source', sa.String(length=64), server_default='api', nullable=False),
    sa.Column('received_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_changes_service'), ['service'], unique=False)
        batch_op.create_index(batch_op.f('ix_changes_ts'), ['ts'], unique=False)

    op.create_table('checkpoints',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('state', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('cursors',
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('source')
    )
    op.create_table('feedback',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('incident_id', sa.String(length=64), nullable=False),
    sa.Column('cause', sa.JSON(), nullable=False),
    sa.Column('note', sa.Text(), server_default='', nullable=False),
    sa.Column('actor', sa.String(length=253), server_default='', nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_incident_id'), ['incident_id'], unique=False)

    op.create_table('health_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('ts', sa.Float(), nullable=False),
    sa.Column('target', sa.String(length=253), nullable=False),
    sa.Column('healthy', sa.Boolean(), nullable=False),
    sa.Column('detail', sa.Text(), server_default='', nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('target', 'ts', 'healthy', name='uq_health_target_ts')
    )
    with op.batch_alter_table('health_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_health_events_ts'), ['ts'], unique=False)

    op.create_table('incidents',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('onset', sa.Float(), nullable=False),
    sa.Column('opened_at', sa.Float(), nullable=False),
    sa.Column('paged_at', sa.Float(), nullable=True),
    sa.Column('resolved_at', sa.Float(), nullable=True),
    sa.Column('services', sa.JSON(), nullable=False),
    sa.Column('doc', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incidents_onset'), ['onset'], unique=False)
        batch_op.create_index(batch_op.f('ix_incidents_state'), ['state'], unique=False)

    op.create_table('notifications',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('incident_id', sa.String(length=64), nullable=False),
    sa.Column('receiver', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('dedup_key', sa.String(length=128), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('next_attempt_at', sa.Float(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.Column('sent_at', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notifications_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notifications_status'), ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notifications_status'))
        batch_op.drop_index(batch_op.f('ix_notifications_incident_id'))

    op.drop_table('notifications')
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incidents_state'))
        batch_op.drop_index(batch_op.f('ix_incidents_onset'))

    op.drop_table('incidents')
    with op.batch_alter_table('health_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_health_events_ts'))

    op.drop_table('health_events')
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_incident_id'))

    op.drop_table('feedback')
    op.drop_table('cursors')
    op.drop_table('checkpoints')
    with op.batch_alter_table('changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_changes_ts'))
        batch_op.drop_index(batch_op.f('ix_changes_service'))

    op.drop_table('changes')
    with op.batch_alter_table('anomalies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_anomalies_service'))
        batch_op.drop_index(batch_op.f('ix_anomalies_onset'))
        batch_op.drop_index(batch_op.f('ix_anomalies_incident_id'))

    op.drop_table('anomalies')
