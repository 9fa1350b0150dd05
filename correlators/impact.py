"""Materiality: is a change large enough that users feel it, and so worth a page?

A detector says a series moved beyond what its history explains (significance); this module says
whether the move matters (materiality). A page needs both. Each paging role has an absolute and a
relative bar, configurable per service and signal:

- errors: the ratio rises by at least ``min_delta`` (one percentage point) *and* at least
  ``min_ratio`` times (doubles). 0.13% → 0.26% doubles but adds a tenth of a point: no page.
  Where the service's request rate is measured, the rise must also add ``min_failures`` failed
  requests a second (3 a minute): one failure in three requests is 33%, and nobody is woken for it.
- latency: the quantile rises by at least ``min_delta`` seconds (100 ms) *and* ``min_ratio``
  times (by half). A queue's p99 going 30 ms → 50 ms is no page; 0.4 s → 9 s is.
- traffic: a loss to at most ``loss_to`` of the level before (half the requests gone), or a surge
  to at least ``surge_to`` times (tripled), on a service that had ``min_before`` requests a second.

Resource signals (CPU, memory, saturation, queue depth) and unknown signals never page alone:
they are evidence of where a fault sits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from .signals import PAGING_ROLES, SignalRole, is_bad_direction, role_of
from .types import Anomaly

__all__ = ["ALERT_SERIES", "DEFAULT_BARS", "Bar", "ImpactPolicy"]

ALERT_SERIES = "alert:"
"""The series prefix of anomalies taken from external alerts (``daemon.sources.alertmanager``)."""


@dataclass(frozen=True)
class Bar:
    """The absolute and relative size a bad move must have to be felt (see the module docstring)."""

    min_delta: float = 0.0
    min_ratio: float = 1.0
    loss_to: float = 0.5
    surge_to: float = 3.0
    min_before: float = 0.0
    min_failures: float = 0.0

    def passes(self, role: SignalRole, before: float, after: float, rate: float | None = None) -> bool:
        if role is SignalRole.ERRORS and rate is not None and (after - before) * rate < self.min_failures:
            return False  # 1 failure in 3 requests is 33%, and nobody is paged for one request
        if role is SignalRole.TRAFFIC:
            if before < self.min_before:
                return False
            return after <= self.loss_to * before or after >= self.surge_to * max(before, 1e-12)
        delta = after - before
        return delta >= self.min_delta and after >= self.min_ratio * max(before, 0.0) and delta > 0


DEFAULT_BARS: Mapping[SignalRole, Bar] = {
    SignalRole.ERRORS: Bar(min_delta=0.01, min_ratio=2.0, min_failures=0.05),
    SignalRole.LATENCY: Bar(min_delta=0.1, min_ratio=1.5),
    SignalRole.TRAFFIC: Bar(loss_to=0.5, surge_to=3.0, min_before=1.0),
}


def _in_milliseconds(signal: str) -> bool:
    """``latency_p99_ms``, ``duration_milliseconds``: a latency whose unit is the millisecond."""
    name = signal.lower()
    return name.endswith("_ms") or "_ms_" in name or "millis" in name


def _a_count(signal: str) -> bool:
    """``errors_per_second``, ``http_5xx_total``: failures counted, not a share of requests."""
    name = signal.lower()
    return "ratio" not in name and any(h in name for h in ("per_second", "per_minute", "_rate", "count", "total"))


@dataclass(frozen=True)
class ImpactPolicy:
    """Which anomalies users feel.

    Parameters
    ----------
    bars
        The bar of each paging role (roles missing here never page).
    overrides
        Bars for ``(service, signal)``; ``"*"`` as the service matches every service.
    roles
        Signal roles from the config, over the name-based defaults.
    bad_directions
        Which way each configured signal hurts (up, down or both), over the defaults of
        :func:`~correlators.signals.default_bad_direction`.

    Examples
    --------
    >>> p = ImpactPolicy()
    >>> def a(sig, before, after, direction="up"): return Anomaly("api", sig, 0, 60, direction, before, after, 1.0)
    >>> p.is_material(a("error_ratio", 0.0013, 0.0026)), p.is_material(a("error_ratio", 0.004, 0.05))
    (False, True)
    >>> p.is_material(a("latency_p99_seconds", 0.03, 0.05)), p.is_material(a("latency_p99_seconds", 0.4, 9.0))
    (False, True)
    >>> p.is_material(a("cpu_utilisation", 0.003, 0.9))
    False
    >>> from dataclasses import replace
    >>> third = a("error_ratio", 0.0, 0.33)  # 1 failure in 3 requests
    >>> p.is_material(replace(third, rate=0.05)), p.is_material(replace(third, rate=5.0))
    (False, True)
    >>> p.is_material(a("request_rate", 200.0, 60.0, "down")), p.is_material(a("request_rate", 200.0, 150.0, "down"))
    (True, False)
    >>> p.is_material(a("latency_p99_ms", 30.0, 50.0)), p.is_material(a("latency_p99_ms", 400.0, 9000.0))
    (False, True)
    >>> p.is_material(a("errors_per_second", 0.0, 0.5)), p.is_material(a("errors_per_second", 2.0, 40.0))
    (False, True)
    >>> ImpactPolicy(overrides={("api", "latency_p99_seconds"): Bar(0.01, 1.2)}).is_material(
    ...     a("latency_p99_seconds", 0.03, 0.05))
    True
    """

    bars: Mapping[SignalRole, Bar] = field(default_factory=lambda: dict(DEFAULT_BARS))
    overrides: Mapping[tuple[str, str], Bar] = field(default_factory=dict)
    roles: Mapping[str, SignalRole] = field(default_factory=dict)
    bad_directions: Mapping[str, str] = field(default_factory=dict)

    def role(self, signal: str) -> SignalRole:
        return role_of(signal, self.roles)

    def is_bad(self, signal: str, direction: str) -> bool:
        """Does this move hurt users (:func:`~correlators.signals.is_bad_direction` with the config's
        roles and bad directions)?"""
        return is_bad_direction(signal, direction, self.roles, self.bad_directions)

    def pages(self, signal: str) -> bool:
        """Can this signal page at all (a user-facing symptom)?"""
        return self.role(signal) in PAGING_ROLES

    def bar(self, service: str, signal: str) -> Bar | None:
        got = self.overrides.get((service, signal)) or self.overrides.get(("*", signal))
        if got is not None:
            return got
        return self.bars.get(self.role(signal))

    def is_material(self, a: Anomaly) -> bool:
        """Would users feel this anomaly? Never for resource or unknown signals.

        An external alert (series ``alert:<fingerprint>``, from Alertmanager) was judged worth
        attention by its rule: it is material unless its name says it is about a resource.
        """
        role = self.role(a.signal)
        if a.key.startswith(ALERT_SERIES):
            return role is not SignalRole.RESOURCE
        if role not in PAGING_ROLES:
            return False
        bar = self.bar(a.service, a.signal)
        if bar is None:
            return False
        if role is not SignalRole.TRAFFIC and a.direction != "up":
            return False
        if role is SignalRole.LATENCY and _in_milliseconds(a.signal):
            bar = replace(bar, min_delta=bar.min_delta * 1000.0)  # the bars are in seconds
        if role is SignalRole.ERRORS and (max(a.before, a.after) > 1.0 or _a_count(a.signal)):
            # Not a ratio but a count or a rate of failures: doubled, and at least one more.
            return a.after >= bar.min_ratio * a.before and a.after - a.before >= 1.0
        return bar.passes(role, a.before, a.after, a.rate)
