"""A bounded, in-memory ring buffer of recent samples per series, for the incident plots.

The store keeps no raw samples. The daemon keeps the last ``horizon`` seconds of
each series here (at most ``horizon / step`` points per series, at most
``max_series`` series; the least recently updated series is dropped first), and
copies the window around an incident into the store when the incident is saved,
so its plots survive a restart.

Memory: each series holds two preallocated float64 rings (16 bytes a point), so
the defaults (6 h at a 30 s step = 721 points, at most 20 000 series) cap the
buffer at about 230 MB; 2 000 series take about 23 MB (at a 10 s step, three
times that). Lower ``horizon`` or ``max_series`` to lower it.
"""

from __future__ import annotations

import math
from array import array
from collections import OrderedDict
from collections.abc import Iterable

import numpy as np

__all__ = ["Point", "SeriesBuffer"]

Point = tuple[float, float]


class _Ring:
    """Fixed-capacity ring of (ts, value) in two float64 arrays."""

    __slots__ = ("last_ts", "size", "start", "ts", "values")

    def __init__(self, capacity: int) -> None:
        self.ts = array("d", bytes(8 * capacity))
        self.values = array("d", bytes(8 * capacity))
        self.start = 0
        self.size = 0
        self.last_ts: float | None = None

    def append(self, ts: float, value: float) -> None:
        cap = len(self.ts)
        if self.size < cap:
            i = (self.start + self.size) % cap
            self.size += 1
        else:
            i = self.start
            self.start = (self.start + 1) % cap
        self.ts[i] = ts
        self.values[i] = value
        self.last_ts = ts

    def ordered(self) -> tuple[np.ndarray, np.ndarray]:
        idx = (self.start + np.arange(self.size)) % len(self.ts)
        return np.frombuffer(self.ts)[idx], np.frombuffer(self.values)[idx]


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
    >>> b.window("b", 0, 1000)  # in the evicted series' ring, none of its points
    [(0.0, 1.0)]
    """

    def __init__(self, *, horizon: float = 6 * 3600.0, step: float = 30.0, max_series: int = 20_000) -> None:
        if horizon <= 0 or step <= 0 or max_series <= 0:
            raise ValueError("horizon, step and max_series must be positive")
        self.horizon = float(horizon)
        self.points_per_series = math.ceil(horizon / step) + 1
        self.max_series = max_series
        self._data: OrderedDict[str, _Ring] = OrderedDict()

    def add(self, key: str, ts: float, value: float) -> None:
        """Append one sample (non-finite values are kept as gaps: they are not plotted)."""
        buf = self._data.get(key)
        if buf is None:
            if len(self._data) >= self.max_series:
                _, buf = self._data.popitem(last=False)
                buf.start = buf.size = 0  # reuse the evicted ring: past max_series every sample evicts one
                buf.last_ts = None
            else:
                buf = _Ring(self.points_per_series)
            self._data[key] = buf
        else:
            self._data.move_to_end(key)
        last = buf.last_ts
        if last is not None and ts <= last:
            return  # out of order or repeated: the buffer stays sorted
        buf.append(float(ts), float(value))

    def window(self, key: str, start: float, end: float) -> list[Point]:
        """Points of ``key`` with ``start <= ts <= end``, oldest first (finite values only)."""
        buf = self._data.get(key)
        if buf is None or not buf.size:
            return []
        ts, values = buf.ordered()
        keep = (ts >= start) & (ts <= end) & np.isfinite(values)
        return list(zip(ts[keep].tolist(), values[keep].tolist(), strict=True))

    def keys(self) -> Iterable[str]:
        return self._data.keys()

    def __len__(self) -> int:
        return len(self._data)

    @property
    def point_count(self) -> int:
        return sum(b.size for b in self._data.values())
