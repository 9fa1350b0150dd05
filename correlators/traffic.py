"""Request-rate shifts measured across an incident's onset: evidence for the traffic candidates.

The detector bank reports request-rate change points, but a short surge (a few samples at a
coarse step) may be over before a detector is sure, and a detector may date a surge later than
the latency it causes. Ranking does not need a detector's certainty: it asks one question of
each request-rate series, "was it much higher after the incident's onset than before?". This
module keeps the last samples of each traffic series and answers it. Pure, event-time driven.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field

from .types import Anomaly

__all__ = ["TrafficWindow"]


@dataclass
class TrafficWindow:
    """The last ``keep`` samples of every request-rate series.

    >>> w = TrafficWindow()
    >>> for i in range(30):
    ...     w.observe("web", "request_rate", 60.0 * i, 100.0 + (i % 3) + (300.0 if i >= 25 else 0.0))
    >>> [(a.service, a.onset, round(a.after / a.before, 1)) for a in w.shifts(1500.0, 90.0, 1740.0)]
    [('web', 1500.0, 4.0)]
    >>> w.shifts(600.0, 90.0, 900.0)
    []
    """

    keep: int = 64
    min_ratio: float = 1.5
    min_rate: float = 1.0  # requests a second before: below, a rise is counting noise, not load
    baseline_points: int = 20
    _series: dict[tuple[str, str], deque[tuple[float, float]]] = field(default_factory=dict)
    _signals: dict[str, list[str]] = field(default_factory=dict)  # per service, its traffic signals

    def observe(self, service: str, signal: str, ts: float, value: float) -> None:
        if not math.isfinite(value):
            return
        buf = self._series.get((service, signal))
        if buf is None:
            buf = self._series[(service, signal)] = deque(maxlen=self.keep)
            self._signals.setdefault(service, []).append(signal)
        buf.append((ts, value))

    def rate_before(self, service: str, ts: float) -> float | None:
        """The service's request rate before ``ts`` (the median of its last samples), if measured.

        >>> w = TrafficWindow()
        >>> for i in range(5):
        ...     w.observe("web", "request_rate", 60.0 * i, 10.0 + i)
        >>> w.rate_before("web", 250.0), w.rate_before("api", 250.0)
        (12.0, None)
        """
        values = [v for sig in self._signals.get(service, ()) for t, v in self._series[(service, sig)] if t < ts]
        if not values:
            return None
        recent = sorted(values[-self.baseline_points:])
        return recent[len(recent) // 2]

    def shifts(self, onset: float, tolerance: float, now: float) -> list[Anomaly]:
        """Series whose level around the onset (the upper quartile of ``onset - tolerance`` to
        ``onset + 3 * tolerance``) is ``min_ratio`` times their level before (a median).

        Each comes back as an up ``Anomaly`` dated at its first sample above the midpoint of the
        two levels, so that traffic candidates can be timed against the onset like any cause.
        """
        out: list[Anomaly] = []
        for (service, signal), buf in sorted(self._series.items()):
            before = [v for t, v in buf if t < onset - tolerance][-self.baseline_points:]
            after = [(t, v) for t, v in buf if onset - tolerance <= t <= min(now, onset + 3 * tolerance)]
            if len(before) < 3 or not after:
                continue
            base = statistics.median(before)
            # Upper quartile: a surge shorter than the window (or already over) still counts,
            # a lone glitch does not.
            values = sorted(v for _, v in after)
            level = values[(3 * len(values)) // 4]
            if base < self.min_rate or level < self.min_ratio * base:
                continue
            mid = (base + level) / 2.0
            first = next(t for t, v in after if v >= mid)
            conf = min(1.0, (level / base - 1.0) / (self.min_ratio - 1.0) / 2.0)
            out.append(Anomaly(service, signal, first, now, "up", base, level, conf,
                               series=f"{service}/{signal}"))
        return out
