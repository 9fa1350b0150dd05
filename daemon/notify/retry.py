"""The retry stage's policy: full-jitter exponential backoff, Retry-After honoured, attempts bounded."""

from __future__ import annotations

import random

__all__ = ["RetryPolicy"]


class RetryPolicy:
    """When to try a retryable failure again, and when to give up.

    Parameters
    ----------
    base, factor, cap
        The ``attempts``-th retry waits a uniform draw from ``[b/2, b]`` with
        ``b = min(cap, base * factor ** attempts)`` (jitter spreads a thundering herd).
    max_attempts
        Attempts (the first send included) before a notification is recorded as failed.
    rng
        Source of jitter; seed it in tests.

    Examples
    --------
    >>> p = RetryPolicy(base=2, factor=2, cap=60, rng=random.Random(1))
    >>> 4 <= p.delay(2, None) <= 8, p.delay(0, retry_after=30.0) >= 30.0, 30 <= p.delay(9, None) <= 60
    (True, True, True)
    >>> p.gives_up(11), p.gives_up(12)
    (False, True)
    """

    def __init__(self, base: float = 2.0, factor: float = 2.0, cap: float = 300.0, max_attempts: int = 12,
                 rng: random.Random | None = None) -> None:
        self.base, self.factor, self.cap, self.max_attempts = base, factor, cap, max_attempts
        self._rng = rng or random.Random()

    def delay(self, attempts: int, retry_after: float | None) -> float:
        """Full-jitter exponential backoff; never sooner than the receiver's Retry-After (capped at 1 h)."""
        backoff = min(self.cap, self.base * self.factor ** max(0, attempts))
        wait = self._rng.uniform(backoff / 2, backoff)
        if retry_after is not None:
            wait = max(wait, min(retry_after, 3600.0))
        return wait

    def gives_up(self, attempts_made: int) -> bool:
        """True once ``attempts_made`` (this one included) reached the bound."""
        return attempts_made >= self.max_attempts
