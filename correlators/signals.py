"""What a signal means: which direction is bad, and whether it measures traffic."""

from __future__ import annotations

import enum

__all__ = ["SignalRole", "is_bad_direction", "role_of"]


class SignalRole(str, enum.Enum):
    ERRORS = "errors"
    LATENCY = "latency"
    TRAFFIC = "traffic"
    OTHER = "other"


_ROLE_HINTS: tuple[tuple[SignalRole, tuple[str, ...]], ...] = (
    (SignalRole.ERRORS, ("error", "fail", "5xx")),
    (SignalRole.LATENCY, ("latency", "duration", "p99", "p95", "p50")),
    (SignalRole.TRAFFIC, ("request_rate", "rps", "qps", "throughput", "traffic")),
)


def role_of(signal: str) -> SignalRole:
    """Infer a signal's role from its name; unknown signals are generic.

    >>> role_of("error_ratio"), role_of("latency_p99_seconds"), role_of("request_rate"), role_of("queue_depth")
    (<SignalRole.ERRORS: 'errors'>, <SignalRole.LATENCY: 'latency'>, <SignalRole.TRAFFIC: 'traffic'>, <SignalRole.OTHER: 'other'>)
    """
    name = signal.lower()
    for role, hints in _ROLE_HINTS:
        if any(h in name for h in hints):
            return role
    return SignalRole.OTHER


def is_bad_direction(signal: str, direction: str) -> bool:
    """Does this move of this signal hurt users? Rises of errors, latency and unknown signals do.

    Traffic moves are never bad by themselves; they are evidence (a load candidate).
    """
    role = role_of(signal)
    if role is SignalRole.TRAFFIC:
        return False
    return direction == "up"
