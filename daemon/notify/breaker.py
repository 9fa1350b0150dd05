"""A circuit breaker per receiver: stop hammering a receiver that keeps failing.

After ``threshold`` consecutive retryable failures the circuit opens: nothing is
sent to that receiver for ``cool_down`` seconds (its pages wait in the outbox,
no attempt is counted). Then one trial is let through (half-open): success
closes the circuit, failure opens it again. Pure; the clock is passed in.
"""

from __future__ import annotations

__all__ = ["CircuitBreaker"]


class CircuitBreaker:
    """
    Examples
    --------
    >>> b = CircuitBreaker(threshold=2, cool_down=30)
    >>> b.failure(0.0); b.allow(1.0)
    True
    >>> b.failure(1.0); b.allow(2.0), b.state(2.0), b.retry_at
    (False, 'open', 31.0)
    >>> b.allow(31.0), b.allow(31.0)   # half-open: one trial at a time
    (True, False)
    >>> b.success(); b.state(32.0)
    'closed'
    """

    def __init__(self, threshold: int = 5, cool_down: float = 60.0) -> None:
        self.threshold = threshold
        self.cool_down = cool_down
        self.failures = 0
        self.retry_at = 0.0
        self._trial = False

    def state(self, now: float) -> str:
        if self.failures < self.threshold:
            return "closed"
        return "open" if now < self.retry_at else "half-open"

    def allow(self, now: float) -> bool:
        """May a notification be sent now? In half-open state only one trial is in flight."""
        state = self.state(now)
        if state == "closed":
            return True
        if state == "open" or self._trial:
            return False
        self._trial = True
        return True

    def success(self) -> None:
        self.failures = 0
        self._trial = False

    def failure(self, now: float) -> None:
        """A retryable failure (permanent ones say nothing about the receiver's health)."""
        self.failures += 1
        self._trial = False
        if self.failures >= self.threshold:
            self.retry_at = now + self.cool_down

    def release(self) -> None:
        """The trial ended without a verdict (e.g. a permanent, payload-specific error)."""
        self._trial = False
