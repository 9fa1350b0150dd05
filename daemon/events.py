"""The events the core consumes, each carrying its own timestamp (Unix seconds).

Sources (Prometheus, Kubernetes, webhooks, probes, the demo, a scenario folder)
produce these; the engine consumes them in timestamp order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from correlators.types import Change

__all__ = ["Sample", "SampleBatch", "ProbeResult", "AlertEvent", "Event", "batched", "event_ts"]


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
class SampleBatch:
    """The samples of one signal at one timestamp (a query's result at one step), in columns.

    The engine advances them together (a vectorised detector bank); the events are
    those of the same samples given one at a time, in this order.

    >>> b = SampleBatch.of([Sample(30.0, "api", "error_ratio", 0.1), Sample(30.0, "web", "error_ratio", 0.2, "w/1")])
    >>> b.keys, b.values, len(b)
    (('api/error_ratio', 'w/1'), (0.1, 0.2), 2)
    >>> [s.key for s in b.samples()]
    ['api/error_ratio', 'w/1']
    >>> SampleBatch(0.0, "x", ("a",), ("a/x",), ())
    Traceback (most recent call last):
    ...
    ValueError: SampleBatch values: expected 1 values, one per key, got 0
    """

    ts: float
    signal: str
    services: tuple[str, ...]
    keys: tuple[str, ...]
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        n = len(self.keys)
        for name in ("services", "values"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"SampleBatch {name}: expected {n} {name}, one per key, "
                                 f"got {len(getattr(self, name))}")

    def __len__(self) -> int:
        return len(self.keys)

    @classmethod
    def of(cls, samples: Sequence[Sample]) -> SampleBatch:
        """Samples of one signal and timestamp as a batch."""
        if not samples:
            raise ValueError("SampleBatch.of: no samples")
        ts, signal = samples[0].ts, samples[0].signal
        if any(s.ts != ts or s.signal != signal for s in samples):
            raise ValueError("SampleBatch.of: samples of one signal and one timestamp expected")
        return cls(ts, signal, tuple(s.service for s in samples), tuple(s.key for s in samples),
                   tuple(s.value for s in samples))

    def samples(self) -> list[Sample]:
        """The batch as single samples (``series`` left empty where the key is the default one)."""
        sig = self.signal
        return [Sample(self.ts, svc, sig, v, "" if k == f"{svc}/{sig}" else k)
                for svc, k, v in zip(self.services, self.keys, self.values, strict=True)]


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


Event = Sample | SampleBatch | ProbeResult | Change | AlertEvent


def batched(events: Iterable[Event]) -> Iterator[Event]:
    """Runs of samples of one signal and timestamp as :class:`SampleBatch`; other events as they are.

    The order of everything is kept, so an engine sees the same samples in the same order.

    >>> evs = [Sample(0.0, "a", "x", 1.0), Sample(0.0, "b", "x", 2.0), ProbeResult(0.0, "db", True),
    ...        Sample(0.0, "a", "y", 3.0), Sample(15.0, "a", "y", 4.0)]
    >>> [(type(e).__name__, len(e) if isinstance(e, SampleBatch) else 1) for e in batched(evs)]
    [('SampleBatch', 2), ('ProbeResult', 1), ('SampleBatch', 1), ('SampleBatch', 1)]
    """
    run: list[Sample] = []
    for ev in events:
        if isinstance(ev, Sample):
            if run and (ev.ts != run[0].ts or ev.signal != run[0].signal):
                yield SampleBatch.of(run)
                run = []
            run.append(ev)
            continue
        if run:
            yield SampleBatch.of(run)
            run = []
        yield ev
    if run:
        yield SampleBatch.of(run)


def event_ts(event: Event) -> float:
    return event.ts
