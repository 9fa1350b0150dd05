"""What a signal means: its role (what users feel, or evidence of where a fault sits) and which way is bad."""

from __future__ import annotations

import enum
from collections.abc import Mapping

__all__ = ["PAGING_ROLES", "SignalRole", "default_bad_direction", "is_bad_direction", "role_of"]


class SignalRole(str, enum.Enum):
    """User-facing symptoms (errors, latency, traffic) page; resources and unknown signals are evidence."""

    ERRORS = "errors"
    LATENCY = "latency"
    TRAFFIC = "traffic"
    RESOURCE = "resource"
    OTHER = "other"


PAGING_ROLES = frozenset({SignalRole.ERRORS, SignalRole.LATENCY, SignalRole.TRAFFIC})
"""Roles whose material change users feel: only these page. The rest only localise and rank."""

# The one place where a signal's name implies its role (config's ``signals[].role`` overrides it).
# Resource hints come first: "cpu_throttled_seconds" is a resource, not a latency.
_ROLE_HINTS: tuple[tuple[SignalRole, tuple[str, ...]], ...] = (
    (SignalRole.RESOURCE, ("cpu", "memory", "mem_", "heap", "gc_", "saturation", "utilisation", "utilization",
                           "queue", "disk", "iops", "swap", "thread", "goroutine", "file_descriptor", "open_fds",
                           "throttl", "load_average", "connections", "pool")),
    (SignalRole.ERRORS, ("error", "fail", "5xx")),
    (SignalRole.LATENCY, ("latency", "duration", "p99", "p95", "p50")),
    (SignalRole.TRAFFIC, ("request_rate", "rps", "qps", "throughput", "traffic")),
)


def role_of(signal: str, overrides: Mapping[str, SignalRole] | None = None) -> SignalRole:
    """A signal's role: from ``overrides`` (the config) if named there, else inferred from its name.

    >>> [role_of(s).value for s in ("error_ratio", "latency_p99_seconds", "request_rate", "cpu_utilisation",
    ...                             "queue_depth", "some_gauge")]
    ['errors', 'latency', 'traffic', 'resource', 'resource', 'other']
    >>> role_of("queue_depth", {"queue_depth": SignalRole.LATENCY}).value
    'latency'
    """
    if overrides:
        got = overrides.get(signal)
        if got is not None:
            return got
    name = signal.lower()
    for role, hints in _ROLE_HINTS:
        if any(h in name for h in hints):
            return role
    return SignalRole.OTHER


def default_bad_direction(signal: str, overrides: Mapping[str, SignalRole] | None = None) -> str:
    """Which way a signal hurts users unless the config says (``signals[].bad_direction``): ``up`` for
    errors, latency, resources and unknown signals; ``both`` for traffic (a loss or a surge, judged by
    size in :mod:`correlators.impact`).

    >>> [default_bad_direction(s) for s in ("error_ratio", "request_rate", "queue_depth")]
    ['up', 'both', 'up']
    """
    return "both" if role_of(signal, overrides) is SignalRole.TRAFFIC else "up"


def is_bad_direction(signal: str, direction: str, overrides: Mapping[str, SignalRole] | None = None,
                     bad: Mapping[str, str] | None = None) -> bool:
    """Does this move of this signal hurt users? By default rises of errors, latency, resources and
    unknown signals do; ``bad`` (the config's ``signals[].bad_direction``: up, down or both) overrides
    that per signal.

    Traffic moves are judged by size instead (a loss or a surge; see :mod:`correlators.impact`).

    >>> is_bad_direction("error_ratio", "up"), is_bad_direction("error_ratio", "down")
    (True, False)
    >>> is_bad_direction("free_memory_bytes", "down", bad={"free_memory_bytes": "down"})
    True
    >>> is_bad_direction("request_rate", "up")
    False
    """
    if role_of(signal, overrides) is SignalRole.TRAFFIC:
        return False
    wanted = (bad or {}).get(signal) or default_bad_direction(signal, overrides)
    return wanted == "both" or direction == wanted
