"""Retention: what is deleted once it is older than the horizon, across every table that grows."""

from __future__ import annotations

import sqlalchemy as sa

from . import tables as t
from .session import Database

__all__ = ["Retention"]


class Retention:
    """Prunes the tables the daemon appends to; ``checkpoints`` and ``cursors`` hold one row per key
    and do not grow."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def prune(self, before: float) -> dict[str, int]:
        """Delete what is older than ``before`` (resolved or merged incidents only; pending pages never).

        The workspace's tables follow in :meth:`prune_workspace`, which drops what belonged to
        the incidents deleted here.
        """
        counts: dict[str, int] = {}
        async with self.db.write() as conn:
            for name, stmt in (
                ("changes", sa.delete(t.changes).where(t.changes.c.ts < before)),
                ("health_events", sa.delete(t.health_events).where(t.health_events.c.ts < before)),
                ("anomalies", sa.delete(t.anomalies).where(t.anomalies.c.onset < before)
                 .where(t.anomalies.c.recovered_at.is_not(None))),
                ("incidents", sa.delete(t.incidents).where(t.incidents.c.onset < before)
                 .where(t.incidents.c.state.in_(("resolved", "merged")))),  # merged: into one that goes on
                ("notifications", sa.delete(t.notifications).where(t.notifications.c.created_at < before)
                 .where(t.notifications.c.status != "pending")),
                ("receiver_refs", sa.delete(t.receiver_refs).where(t.receiver_refs.c.updated_at < before)),
                ("detections", sa.delete(t.detections).where(t.detections.c.created_at < before)),
                ("alert_inbox", sa.delete(t.alert_inbox).where(t.alert_inbox.c.received_at < before)),
                # answers about incidents that are gone (the weights learned from them are checkpointed)
                ("feedback", sa.delete(t.feedback).where(t.feedback.c.created_at < before)
                 .where(t.feedback.c.incident_id.not_in(sa.select(t.incidents.c.id)))),
                # replicas that stopped without leaving; series no replica has checkpointed since
                ("members", sa.delete(t.members).where(t.members.c.heartbeat_at < before)),
                ("series_states", sa.delete(t.series_states).where(t.series_states.c.updated_at < before)),
            ):
                counts[name] = (await conn.execute(stmt)).rowcount or 0
        return counts

    async def prune_workspace(self, before: float) -> dict[str, int]:
        """Drop snapshots and hypothesis logs of incidents no longer stored, and silences ended before ``before``."""
        gone = sa.select(t.incidents.c.id)
        counts: dict[str, int] = {}
        async with self.db.write() as conn:
            for name, stmt in (
                ("series_snapshots", sa.delete(t.series_snapshots)
                 .where(t.series_snapshots.c.incident_id.not_in(gone))),
                ("hypotheses", sa.delete(t.hypotheses).where(t.hypotheses.c.incident_id.not_in(gone))),
                ("silences", sa.delete(t.silences).where(t.silences.c.ends_at < before)),
            ):
                counts[name] = (await conn.execute(stmt)).rowcount or 0
        return counts
