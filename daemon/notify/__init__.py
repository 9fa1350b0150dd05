"""Paging: receivers behind a durable outbox, routing, silences, and the page texts.

A receiver is a :class:`daemon.notify.types.Notifier` (``send`` raises ``Retryable`` or
``Permanent``); :mod:`daemon.notify.factory` builds the configured ones. ``notify`` may import
the core, the store and ``correlators``; never the runtime, the API or the CLI.
"""

from .types import DeliveryError, Notifier, Page, Permanent, Retryable

__all__ = ["DeliveryError", "Notifier", "Page", "Permanent", "Retryable"]
