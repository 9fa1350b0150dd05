"""A bounded, in-memory ring buffer of recent samples per series, for the incident plots.

The store keeps no raw samples. The daemon keeps the last ``horizon`` seconds of
each series here (at most ``horizon / step`` points per series, at most
``max_series`` series; the least recently updated series is dropped first), and
copies the window around an incident into the store when the incident is saved,
so its plots survive a restart.

Memory: one point is a pair of floats in a ``deque`` (about 70 bytes with the
tuple), so the defaults (6 h at a 30 s step = 720 points, 20 000 series) cap
the buffer near 1 GB in the worst case; a typical daemon with 2 000 series uses
about 100 MB. Lower ``horizon`` or ``max_series`` to lower it.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Iterable

__all__ = ["Point", "SeriesBuffer"]

Point = tuple[float, float]


class SeriesBuffer:
    """Recent samples per series key, bounded in points per series and in series.

    >>> b = SeriesBuffer(horizon=60, step=30, max_series=2)
    >>> for ts in (0, 30, 60, 90):
    ...     b.add("api/error_ratio", ts, ts / 100)
    >>> b.window("api/error_ratio", 0, 1000)
    [(30.0, 0.3), (60.0, 0.6), (90.0, 0.9)]
    >>> b.add("b", 0, 1.0); b.add("c", 0, 1.0)
    >>> sorted(b.keys())
    ['b', 'c']
    """

    def __init__(self, *, horizon: float = 6 * 3600.0, step: float = 30.0, max_series: int = 20_000) -> None:
        if horizon <= 0 or step <= 0 or max_series <= 0:
            raise ValueError("horizon, step and max_series must be positive")
        self.horizon = float(horizon)
        self.points_per_series = math.ceil(horizon / step) + 1
        self.max_series = max_series
        self._data: OrderedDict[str, deque[Point]] = OrderedDict()

    def add(self, key: str, ts: float, value: float) -> None:
        """Append one sample (non-finite values are kept as gaps: they are not plotted)."""
        buf = self._data.get(key)
        if buf is None:
            if len(self._data) >= self.max_series:
                self._data.popitem(last=False)
            buf = self._data[key] = deque(maxlen=self.points_per_series)
        else:
            self._data.move_to_end(key)
        if buf and ts <= buf[-1][0]:
            return  # out of order or repeated: the buffer stays sorted
        buf.append((float(ts), float(value)))

    def window(self, key: str, start: float, end: float) -> list[Point]:
        """Points of ``key`` with ``start <= ts <= end``, oldest first (finite values only)."""
        buf = self._data.get(key)
        if not buf:
            return []
        return [(t, v) for t, v in buf if start <= t <= end and math.isfinite(v)]

    def keys(self) -> Iterable[str]:
        return self._data.keys()

    def __len__(self) -> int:
        return len(self._data)

    @property
    def point_count(self) -> int:
        return sum(len(b) for b in self._data.values())
