"""Durable state: changes, health, anomalies, incidents, the notification outbox, feedback, checkpoints."""

from .store import Notification, Store, StoreError

__all__ = ["Notification", "Store", "StoreError"]
