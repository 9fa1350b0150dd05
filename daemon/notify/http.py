"""Classify HTTP answers from receivers as success, retryable or permanent."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

from .types import Permanent, Retryable

__all__ = ["classify_response", "parse_retry_after"]


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date).

    >>> parse_retry_after("30"), parse_retry_after(None), parse_retry_after("garbage")
    (30.0, None, None)
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (now if now is not None else time.time()))


def classify_response(status: int, retry_after: str | None, body: str) -> None:
    """Return on 2xx; raise :class:`Retryable` on 408/425/429/5xx, :class:`Permanent` otherwise."""
    if 200 <= status < 300:
        return
    snippet = body[:300].replace("\n", " ")
    if status in (408, 425, 429) or status >= 500:
        raise Retryable(f"HTTP {status}: {snippet}", parse_retry_after(retry_after))
    raise Permanent(f"HTTP {status}: {snippet}")
