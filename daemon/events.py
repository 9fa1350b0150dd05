"""The events the core consumes, each carrying its own timestamp (Unix seconds).

Sources (Prometheus, Kubernetes, webhooks, probes, the demo, a scenario folder)
produce these; the engine consumes them in timestamp order.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from correlators.types import Change

__all__ = ["Sample", "ProbeResult", "AlertEvent", "ChangeStatus", "CHANGE_STATUSES", "Event", "event_ts"]

CHANGE_STATUSES = ("progressing", "complete", "failed")
"""A change's outcome: a rollout under way, finished, or failed (it may still complete later)."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One value of one signal of one service.

    ``series`` distinguishes several series of the same service and signal
    (e.g. per-route); it defaults to ``service/signal``.
    """

    ts: float
    service: str
    signal: str
    value: float
    series: str = ""

    @property
    def key(self) -> str:
        return self.series or f"{self.service}/{self.signal}"


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One dependency health probe (as a ``curl -sf .../health`` loop gives)."""

    ts: float
    target: str
    healthy: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """An external alert (Alertmanager) firing or resolved, taken as an anomaly of ``service``.

    ``ts`` is when it started firing (``firing``) or ended (resolved); ``series`` identifies
    the alert (its fingerprint) so a re-sent firing alert is not counted twice.
    """

    ts: float
    service: str
    signal: str
    series: str
    firing: bool
    confidence: float = 0.8
    summary: str = ""
    starts_at: float | None = None

    @property
    def key(self) -> str:
        """Identifies one notification of one alert: fingerprint, startsAt and status.

        >>> AlertEvent(5.0, "a", "HighErrorRate", "alert:f1", True, starts_at=5.0).key
        'alert:f1|5|firing'
        """
        start = self.starts_at if self.starts_at is not None else self.ts
        return f"{self.series}|{start:.0f}|{'firing' if self.firing else 'resolved'}"


@dataclass(frozen=True, slots=True)
class ChangeStatus:
    """A recorded change's outcome, learnt after the change: a rollout completed or failed.

    ``ts`` is when it was observed (event time); ``completed_at`` when it completed or failed
    (``None``: not known). Applying it to a change is idempotent and monotonic: ``complete``
    is final, ``failed`` may still become ``complete`` (the pods came up after the deadline).

    >>> from correlators.types import ChangeKind
    >>> ch = Change("chg-1", 100.0, ChangeKind.DEPLOY, "checkout")
    >>> done = ChangeStatus(170.0, "chg-1", "complete", 160.0).applied_to(ch)
    >>> done.status, done.completed_at, done.attributes["rollout_complete"]
    ('complete', 160.0, True)
    >>> ChangeStatus(175.0, "chg-1", "complete", 160.0).applied_to(done) is None  # already known
    True
    >>> ChangeStatus(180.0, "chg-1", "failed", 180.0).applied_to(done) is None  # complete is final
    True
    """

    ts: float
    change_id: str
    status: str
    completed_at: float | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if self.status not in CHANGE_STATUSES:
            raise ValueError(f"status: expected one of {', '.join(CHANGE_STATUSES)}, not {self.status!r}")

    def applied_to(self, ch: Change) -> Change | None:
        """The change with this outcome, or ``None`` when it adds nothing (a repeat, or a step back)."""
        rank = {"": 0, "progressing": 1, "failed": 2, "complete": 3}
        if rank[self.status] < rank.get(ch.status, 0):
            return None
        if self.status == ch.status and (self.completed_at is None or self.completed_at == ch.completed_at):
            return None
        attrs = dict(ch.attributes)
        if self.status == "complete":
            attrs["rollout_complete"] = True
        if self.reason:
            attrs["status_reason"] = self.reason[:500]
        completed = self.completed_at if self.completed_at is not None else ch.completed_at
        if self.status == "progressing":
            completed = None
        return replace(ch, status=self.status, completed_at=completed, attributes=attrs)


Event = Sample | ProbeResult | Change | AlertEvent | ChangeStatus


def event_ts(event: Event) -> float:
    return event.ts
