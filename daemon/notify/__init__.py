"""Paging: receivers behind a durable outbox."""

from .types import DeliveryError, Notifier, Page, Permanent, Retryable

__all__ = ["DeliveryError", "Notifier", "Page", "Permanent", "Retryable"]
