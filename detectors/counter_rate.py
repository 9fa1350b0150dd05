"""A raw monotonic counter turned into its per-second rate, resets handled as PromQL's rate()."""

from __future__ import annotations

import math
from collections.abc import Callable

from .robust_cusum import RobustCusum
from .types import Detection, Detector, State

__all__ = ["CounterRate"]


class CounterRate:
    """Watch a monotonic counter (``http_requests_total`` read directly) through its rate.

    Each sample after the first gives the per-second increase since the previous one,
    which the inner detector sees at the sample's timestamp. A counter never decreases
    except when the process restarts, so, as Prometheus' ``rate()`` does, any decrease is
    a reset: the counter restarted from 0 and the increase over the interval is the new
    value itself (what was counted between the last sample and the crash is lost, so
    that one interval reads a little low). A reset is therefore no anomaly, and neither
    is a gap: the rate over a gap is the mean rate across it.

    ``before`` and ``after`` of events are rates (per second). State is this wrapper's
    last sample and the inner detector's own state.

    Parameters
    ----------
    inner
        Builds the detector of the rate (a :class:`RobustCusum` by default).

    Examples
    --------
    50 requests per second, a pod restart, then the rate doubles:

    >>> det = CounterRate()
    >>> total, events = 0.0, []
    >>> for k in range(200):
    ...     total += (100.0 if k >= 150 else 50.0) * 30.0 + (3.0 if k % 2 else -3.0)
    ...     if k == 80:
    ...         total = 700.0  # restarted 14 s before this scrape
    ...     event = det.update(1_790_000_000.0 + 30.0 * k, total)
    ...     if event:
    ...         events.append((event.kind.value, event.direction.value,
    ...                        round(event.before), round(event.after)))
    >>> events
    [('shift', 'up', 50, 100)]
    """

    VERSION = 1

    def __init__(self, inner: Callable[[], Detector] = RobustCusum) -> None:
        self._make_inner = inner
        self._reset()

    def _reset(self) -> None:
        self._inner = self._make_inner()
        self._last: tuple[float, float] | None = None

    @staticmethod
    def increase(previous: float, current: float) -> float:
        """The counter's increase between two samples, a decrease being a reset.

        Examples
        --------
        >>> CounterRate.increase(1000.0, 1600.0)
        600.0
        >>> CounterRate.increase(1000.0, 40.0)   # restarted: counted 40 since
        40.0
        """
        return current - previous if current >= previous else current

    def update(self, ts: float, value: float) -> Detection | None:
        """Consume one counter sample; return the inner detector's event on the rate, if any."""
        if not math.isfinite(value) or value < 0.0:
            return None  # a gap, a NaN, or no counter at all
        if self._last is not None and ts <= self._last[0]:
            return None  # out of order or duplicate
        previous, self._last = self._last, (ts, value)
        if previous is None:
            return None
        return self._inner.update(ts, self.increase(previous[1], value) / (ts - previous[0]))

    def state_dict(self) -> State:
        return {
            "version": self.VERSION,
            "last": list(self._last) if self._last is not None else None,
            "inner": self._inner.state_dict(),
        }

    def load_state(self, state: State) -> None:
        if state.get("version") != self.VERSION:
            raise ValueError(f"CounterRate state version {state.get('version')!r}, expected {self.VERSION}")
        self._reset()
        self._inner.load_state(state["inner"])
        last = state["last"]
        self._last = (float(last[0]), float(last[1])) if last is not None else None
