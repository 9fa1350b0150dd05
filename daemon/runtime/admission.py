"""Admission: which events the core may take (event times in the window, text a store holds) and how
many the edge may take now (rate limits and back-pressure, HTTP 429)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from correlators.types import Change, Topology

from ..core.engine import Engine
from ..core.events import AlertEvent, Event
from ..core.guard import TimeWindow, clean_change, is_clean
from ..core.intake import Busy, IntakeLimits
from ..telemetry.metrics import Metrics
from .lanes import Lanes, Quarantine

__all__ = ["Admission", "describe"]


def describe(ev: Event) -> str:
    """An event for a log line: its type, time and what it is about, clipped."""
    what = getattr(ev, "service", "") or getattr(ev, "target", "") or getattr(ev, "change_id", "") \
        or getattr(ev, "signal", "")
    return f"{type(ev).__name__}(ts={ev.ts!r}, {str(what)[:80]!r})"


class Admission:
    """The guard of the core (every source passes through it) and the rate limits of the edge."""

    def __init__(self, engine: Engine, topology: Topology, lanes: Lanes, *, time_window: TimeWindow,
                 intake: IntakeLimits, clock: Callable[[], float], metrics: Metrics, quarantine: Quarantine) -> None:
        self.engine = engine
        self.topology = topology
        self.lanes = lanes
        self.time_window = time_window  # event times the edge and the core accept
        self.intake = intake
        self.clock = clock
        self.metrics = metrics
        self.quarantine = quarantine

    def inadmissible(self, ev: Event) -> str | None:
        """Why the core must not take ``ev`` (a time that is not finite, or far ahead of now: the
        core's clock would jump there and stay), or ``None``. Every source passes through here."""
        ts = ev.ts
        if not isinstance(ts, (int, float)) or not math.isfinite(ts):
            return "event time is not finite"
        if ts > self.horizon():
            return self.time_window.check(ts, self.reference_now())
        if isinstance(ev, AlertEvent) and not (is_clean(ev.service) and is_clean(ev.signal)):
            return "text the store cannot hold"
        return None

    def admissible_change(self, ch: Change, what: str) -> Change | None:
        """``ch`` cleaned for the store and the core, or ``None`` (quarantined) when its time is unusable."""
        try:
            good = clean_change(ch)
        except ValueError as e:
            self.quarantine("change", f"{what} {ch.id[:80]!r} set aside: {e}")
            return None
        if good.ts > self.horizon():
            self.quarantine("change", f"{what} {ch.id[:80]!r} set aside: "
                                      f"{self.time_window.check(good.ts, self.reference_now())}")
            return None
        return good

    def reference_now(self) -> float:
        """Now, for the core's guard: the wall clock, or the core's event time when it is ahead
        (a replay or a test feeding event time faster than the clock)."""
        now = self.clock()
        return max(now, self.engine.now) if math.isfinite(self.engine.now) else now

    def horizon(self) -> float:
        """The latest event time the core takes (``intake.max_future`` ahead of now)."""
        return self.reference_now() + self.time_window.max_future

    def admit(self, source: str, n: int) -> None:
        """Take ``n`` events from ``source`` now, or raise :class:`~daemon.core.intake.Busy` (HTTP 429)."""
        try:
            self.intake.admit(source, n, self.lanes.pending)
        except Busy:
            self.metrics.intake_refused.labels(source).inc(n)
            raise

    def admit_alerts(self, alerts: Sequence[AlertEvent]) -> None:
        """Alerts about known services only count against the rate limit; a flood of alerts about
        unknown ones is refused first, and never shuts the door on the known ones."""
        known = sum(1 for a in alerts if a.service in self.topology.services)
        self.admit("alertmanager", len(alerts) - known)
        if known:
            self.intake.admit("alertmanager:known", known, self.lanes.queue.qsize())
