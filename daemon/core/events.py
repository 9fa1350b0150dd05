"""The events the core consumes, each carrying its own timestamp (Unix seconds).

Sources (Prometheus, Kubernetes, webhooks, probes, the demo, a scenario folder)
produce these; the engine consumes them in timestamp order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

from correlators.types import Change

__all__ = [
    "CHANGE_STATUSES",
    "AlertEvent",
    "CatchUp",
    "ChangeStatus",
    "Event",
    "ProbeResult",
    "Sample",
    "SampleBatch",
    "batched",
    "event_ts",
]

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


@dataclass(frozen=True, slots=True)
class CatchUp:
    """A source is about to hand over history read at start-up (a Prometheus catch-up from its
    cursor, a backfill): its events before ``ts``, the head of the data, are history.

    History warms the detectors and is recorded (anomalies, incidents), but pages only what is
    still open at the head: an incident opened and resolved inside the catch-up is never paged.
    Not an observation of time: it does not move the engine's clock.
    """

    ts: float
    source: str = ""


Event = Sample | SampleBatch | ProbeResult | Change | AlertEvent | ChangeStatus | CatchUp


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
