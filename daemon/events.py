"""The events the core consumes, each carrying its own timestamp (Unix seconds).

Sources (Prometheus, Kubernetes, webhooks, probes, the demo, a scenario folder)
produce these; the engine consumes them in timestamp order.
"""

from __future__ import annotations

from dataclasses import dataclass

from correlators.types import Change

__all__ = ["Sample", "ProbeResult", "AlertEvent", "Event", "event_ts"]


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


Event = Sample | ProbeResult | Change | AlertEvent


def event_ts(event: Event) -> float:
    return event.ts
