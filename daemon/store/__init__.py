"""Durable state, behind one session factory: SQLAlchemy 2 async over SQLite or PostgreSQL.

What lives here: the schema (``tables``, evolved by the Alembic ``migrations``), the session
factory every repository shares (``session.Database``: the engine, its dialect, read
connections, write transactions and dialect-aware upserts), one repository per record type,
and :class:`Store`, which opens the engine, migrates the schema and holds the repositories as
attributes (``store.changes``, ``store.incidents``, ``store.notifications``, ...). Callers go
through a repository; none of them builds SQL or touches the engine. It imports the core's
types (``correlators``, ``daemon.core.events``, ``daemon.core.guard``) and nothing above them.

The repositories, one module each: ``changes`` (the change log and rollout outcomes),
``health`` (dependency health events), ``alerts`` (the Alertmanager inbox), ``incidents``
(incident snapshots and their anomaly rows), ``notifications`` (the outbox and its delivery),
``refs`` (receivers' message references), ``feedback``, ``checkpoints``, ``cursors``,
``members``, ``detections`` and ``series_states`` (scale-out), ``snapshots``, ``hypotheses``
and ``silences`` (the incident workspace); ``retention`` prunes what grows.

The unit-of-work rule: a write that spans several record types is one transaction. Every
repository method that takes part in one accepts ``tx`` (an open write transaction from
``store.db.write()``) and runs inside it instead of committing on its own;
``decisions.DecisionLog.commit`` writes an analysis step's incidents, pages, withdrawn resolves
and taken alerts that way, so a crash never leaves an incident marked paged without its page
in the outbox, or a page twice.
"""

from .changes import StatusOutcome, StatusUpdate
from .notifications import Notification
from .store import Store, StoreError

__all__ = ["Notification", "StatusOutcome", "StatusUpdate", "Store", "StoreError"]
