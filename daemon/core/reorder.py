"""Put observations that arrive out of order back in event-time order, within a bound.

Samples from several queries, probes and alerts reach the daemon in the order their sources
finish, not the order they happened. With ``intake.reorder_within`` set, the analysis loop holds
each observation until no observation older than it can still arrive (the newest event time
seen, minus the bound), then hands them to the core oldest first; at a quiet moment it also
releases what the wall clock says is due. A per-series detector ignores a sample older than
its series' last one, so without reordering a late sample is lost; within the bound it is not.
The cost is latency: every observation waits up to the bound. Changes, their outcomes and
catch-up markers are not observations of time and pass straight through.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator

from .events import AlertEvent, Event, ProbeResult, Sample, SampleBatch

__all__ = ["ReorderBuffer"]

_OBSERVATIONS = (Sample, SampleBatch, ProbeResult, AlertEvent)


class ReorderBuffer:
    """Observations back in event-time order within ``bound`` seconds (0: no reordering, no delay).

    >>> from daemon.core.events import Sample
    >>> buf = ReorderBuffer(bound=30.0)
    >>> [e.ts for e in buf.push(Sample(100.0, "a", "x", 1.0))], [e.ts for e in buf.push(Sample(90.0, "a", "x", 1.0))]
    ([], [])
    >>> [e.ts for e in buf.push(Sample(135.0, "a", "x", 1.0))]
    [90.0, 100.0]
    >>> [e.ts for e in buf.due(now=170.0)], len(buf)
    ([135.0], 0)
    """

    def __init__(self, bound: float = 0.0) -> None:
        self.bound = bound
        self._heap: list[tuple[float, int, Event]] = []
        self._seq = itertools.count()
        self._newest = float("-inf")

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, ev: Event) -> list[Event]:
        """Take one event; return those now due, oldest first (the event itself at once when it is
        not an observation, or when reordering is off)."""
        if self.bound <= 0.0 or not isinstance(ev, _OBSERVATIONS):
            return [ev]
        heapq.heappush(self._heap, (ev.ts, next(self._seq), ev))
        self._newest = max(self._newest, ev.ts)
        return list(self._release(self._newest - self.bound))

    def due(self, now: float) -> list[Event]:
        """At a quiet moment: release what ``now`` (the wall clock, in event time) says can no longer
        be overtaken."""
        return list(self._release(now - self.bound))

    def drain(self) -> list[Event]:
        """Everything held, oldest first (stopping)."""
        return list(self._release(float("inf")))

    def _release(self, watermark: float) -> Iterator[Event]:
        while self._heap and self._heap[0][0] <= watermark:
            yield heapq.heappop(self._heap)[2]
