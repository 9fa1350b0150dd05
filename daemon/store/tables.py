"""The schema, as SQLAlchemy Core tables. Alembic migrations create and evolve it."""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "alert_inbox",
    "anomalies",
    "changes",
    "checkpoints",
    "cursors",
    "detections",
    "feedback",
    "health_events",
    "hypotheses",
    "incidents",
    "members",
    "metadata",
    "notifications",
    "receiver_refs",
    "series_snapshots",
    "series_states",
    "silences",
]

metadata = sa.MetaData()

changes = sa.Table(
    "changes", metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("ts", sa.Float, nullable=False, index=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("service", sa.String(253), nullable=False, index=True),
    sa.Column("namespace", sa.String(253), nullable=False, server_default=""),
    sa.Column("summary", sa.Text, nullable=False, server_default=""),
    sa.Column("actor", sa.String(253), nullable=False, server_default=""),
    sa.Column("attributes", sa.JSON, nullable=False),
    sa.Column("source", sa.String(64), nullable=False, server_default="api"),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default=""),  # 0005_sources
    sa.Column("completed_at", sa.Float, nullable=True),  # 0005_sources
)

health_events = sa.Table(
    "health_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.Float, nullable=False, index=True),
    sa.Column("target", sa.String(253), nullable=False),
    sa.Column("healthy", sa.Boolean, nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.UniqueConstraint("target", "ts", "healthy", name="uq_health_target_ts"),
)

anomalies = sa.Table(
    "anomalies", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("series", sa.String(512), nullable=False),
    sa.Column("service", sa.String(253), nullable=False, index=True),
    sa.Column("signal", sa.String(253), nullable=False),
    sa.Column("onset", sa.Float, nullable=False, index=True),
    sa.Column("detected_at", sa.Float, nullable=False),
    sa.Column("direction", sa.String(8), nullable=False),
    sa.Column("before", sa.Float, nullable=False),
    sa.Column("after", sa.Float, nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("recovered_at", sa.Float, nullable=True),
    sa.Column("incident_id", sa.String(64), nullable=True, index=True),
    sa.UniqueConstraint("series", "onset", name="uq_anomaly_series_onset"),
)

incidents = sa.Table(
    "incidents", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("onset", sa.Float, nullable=False, index=True),
    sa.Column("opened_at", sa.Float, nullable=False),
    sa.Column("paged_at", sa.Float, nullable=True),
    sa.Column("resolved_at", sa.Float, nullable=True),
    sa.Column("services", sa.JSON, nullable=False),
    sa.Column("doc", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

notifications = sa.Table(
    "notifications", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(300), nullable=False, unique=True),
    sa.Column("incident_id", sa.String(64), nullable=False, index=True),
    sa.Column("receiver", sa.String(128), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("dedup_key", sa.String(128), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("sent_at", sa.Float, nullable=True),
    sa.Index("ix_notifications_due", "status", "next_attempt_at"),
    sa.Index("ix_notifications_dedup_key", "dedup_key"),
)

feedback = sa.Table(
    "feedback", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.String(64), nullable=False, index=True),
    sa.Column("cause", sa.JSON, nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("actor", sa.String(253), nullable=False, server_default=""),
    sa.Column("created_at", sa.Float, nullable=False),
)

checkpoints = sa.Table(
    "checkpoints", metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

cursors = sa.Table(
    "cursors", metadata,
    sa.Column("source", sa.String(200), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# -- the incident workspace (migration 0002_workspace) ----------------------------------
series_snapshots = sa.Table(
    "series_snapshots", metadata,
    sa.Column("incident_id", sa.String(64), primary_key=True),
    sa.Column("series", sa.String(512), primary_key=True),
    sa.Column("service", sa.String(253), nullable=False),
    sa.Column("signal", sa.String(253), nullable=False),
    sa.Column("points", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

hypotheses = sa.Table(
    "hypotheses", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.String(64), nullable=False, index=True),
    sa.Column("cause", sa.JSON, nullable=False),
    sa.Column("cause_key", sa.String(300), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("actor", sa.String(253), nullable=False, server_default=""),
    sa.Column("created_at", sa.Float, nullable=False),
)

silences = sa.Table(
    "silences", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("service", sa.String(253), nullable=False),
    sa.Column("starts_at", sa.Float, nullable=False),
    sa.Column("ends_at", sa.Float, nullable=False, index=True),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("actor", sa.String(253), nullable=False, server_default=""),
    sa.Column("created_at", sa.Float, nullable=False),
)

# -- scale-out (migration 0003_cluster) -----------------------------------------------------
members = sa.Table(
    "members", metadata,
    sa.Column("member", sa.String(253), primary_key=True),
    sa.Column("address", sa.String(253), nullable=False, server_default=""),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("heartbeat_at", sa.Float, nullable=False, index=True),
)

detections = sa.Table(
    "detections", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("series", sa.String(512), nullable=False),
    sa.Column("service", sa.String(253), nullable=False),
    sa.Column("signal", sa.String(253), nullable=False),
    sa.Column("detection", sa.JSON, nullable=False),
    sa.Column("member", sa.String(253), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
)

series_states = sa.Table(
    "series_states", metadata,
    sa.Column("series", sa.String(512), primary_key=True),
    sa.Column("signal", sa.String(253), nullable=False),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("member", sa.String(253), nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# -- paging (migration 0004_paging) -----------------------------------------------------------
receiver_refs = sa.Table(
    "receiver_refs", metadata,
    sa.Column("dedup_key", sa.String(128), primary_key=True),
    sa.Column("receiver", sa.String(128), primary_key=True),
    sa.Column("ref", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# -- sources (migration 0005_sources) ----------------------------------------------------------
alert_inbox = sa.Table(
    "alert_inbox", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(600), nullable=False),
    sa.Column("alert", sa.JSON, nullable=False),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("processed_at", sa.Float, nullable=True),
    sa.UniqueConstraint("key", name="uq_alert_inbox_key"),
    sa.Index("ix_alert_inbox_pending", "processed_at", "id"),
    sa.Index("ix_alert_inbox_received_at", "received_at"),
)
