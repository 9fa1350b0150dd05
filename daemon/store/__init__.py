"""Durable state: changes, health, anomalies, incidents, the notification outbox, feedback, checkpoints.

SQLAlchemy 2 (async) over SQLite or PostgreSQL, schema by Alembic migrations. The store may
import the core's event types and ``correlators`` types; nothing else of the daemon.
"""

from .store import Notification, Store, StoreError

__all__ = ["Notification", "Store", "StoreError"]
