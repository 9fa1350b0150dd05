"""Back-pressure at the edge: per-source rate limits and a bounded intake.

A source (``api``, each webhook adapter, ``alertmanager``) gets a token bucket of events
per second; a request that would overdraw it, or that arrives while the queue it feeds is
full, is refused with :class:`Busy` (HTTP 429 with ``Retry-After``) before anything of it
is stored, so the sender retries later and nothing is lost or half taken.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Busy", "IntakeLimits", "TokenBucket"]


class Busy(Exception):
    """Refuse for now: the sender should retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = max(1, math.ceil(retry_after))


@dataclass
class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up.

    >>> b = TokenBucket(rate=10.0, burst=20.0, tokens=20.0, at=0.0)
    >>> b.take(15, 0.0), b.take(10, 0.0), b.take(10, 0.5)
    (0.0, 0.5, 0.0)
    """

    rate: float
    burst: float
    tokens: float = -1.0
    at: float = 0.0

    def take(self, n: float, now: float) -> float:
        """Take ``n`` tokens: 0.0 when granted, else the seconds until they would be."""
        if self.tokens < 0:
            self.tokens, self.at = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        n = min(n, self.burst)  # a request larger than the burst waits for a full bucket, never for ever
        if self.tokens >= n:
            self.tokens -= n
            return 0.0
        return (n - self.tokens) / self.rate


@dataclass
class IntakeLimits:
    """Events a second per source (``rate``, ``burst``) and how many may wait in the intake."""

    rate: float = 1000.0
    burst: float = 10_000.0
    max_pending: int = 20_000
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)

    def admit(self, source: str, n: int, pending: int) -> None:
        """Take ``n`` events from ``source`` with ``pending`` already waiting, or raise :class:`Busy`."""
        if n <= 0:
            return
        if pending + n > self.max_pending:
            raise Busy(f"intake full ({pending} events waiting); retry later", 5.0)
        bucket = self._buckets.get(source)
        if bucket is None:
            bucket = self._buckets[source] = TokenBucket(self.rate, max(self.burst, 1.0))
        wait = bucket.take(n, self.clock())
        if wait > 0:
            raise Busy(f"source {source} is over its rate limit ({self.rate:g} events/s); retry later", wait)
