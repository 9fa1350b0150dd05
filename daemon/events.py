"""The events the core consumes, each carrying its own timestamp (Unix seconds).

Sources (Prometheus, Kubernetes, webhooks, probes, the demo, a scenario folder)
produce these; the engine consumes them in timestamp order.
"""

from __future__ import annotations

from dataclasses import dataclass

from correlators.types import Change

__all__ = ["Sample", "ProbeResult", "Event", "event_ts"]


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


Event = Sample | ProbeResult | Change


def event_ts(event: Event) -> float:
    return event.ts
