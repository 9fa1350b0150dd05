"""Subsequence discord: how far the latest stretch of a series is from anything seen before."""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from .types import State

__all__ = ["SubsequenceDiscord"]


class SubsequenceDiscord:
    """Raw anomaly score of the last ``length`` samples: distance to their nearest earlier match.

    For the subsequence ending at the newest sample, the detector finds the Euclidean
    distance ``d`` to the most similar subsequence of the same length that ended at least
    ``length`` samples earlier, within the last ``horizon`` samples (the left matrix
    profile of Yeh et al., 2016, computed online). A stretch that repeats something seen
    before (a daily cycle, a familiar burst) is close to it; a shape never seen (a cycle
    that skips its peak, spikes that come twice as often) is far. The raw score is
    ``min(1, d / (scale * m))`` with ``m`` the median of the last ``median_window``
    distances (re-taken every ``median_every`` samples), so it is free of the series' unit.

    Dot products with every earlier subsequence are updated in O(horizon) per sample
    (the STOMP recurrence); values are offset by the first sample so that large levels
    keep their precision. Its output is a raw score:
    :class:`~detectors.anomaly_likelihood.AnomalyLikelihood` turns it into a calibrated one.

    Parameters
    ----------
    length
        Samples in a subsequence.
    horizon
        Earlier subsequences searched.
    scale
        Multiple of the median distance that scores 1.
    median_window, median_every
        Distances in the running median, and how often it is re-taken.
    min_history
        Distances needed before any score above 0.

    Examples
    --------
    >>> disc = SubsequenceDiscord(length=4, horizon=100, median_window=20, median_every=1, min_history=10)
    >>> wave = [0.0, 1.0, 2.0, 1.0] * 30 + [0.0, 2.0, 0.0, 2.0] + [0.0, 1.0, 2.0, 1.0] * 3
    >>> scores = [disc.update(float(t), v) for t, v in enumerate(wave)]
    >>> max(scores[:120]), max(scores[120:124])
    (0.0, 1.0)
    """

    VERSION = 1

    def __init__(
        self, length: int = 32, horizon: int = 4000, scale: float = 3.0,
        median_window: int = 2000, median_every: int = 50, min_history: int = 50,
    ) -> None:
        self.length = length
        self.horizon = horizon
        self.scale = scale
        self.median_window = median_window
        self.median_every = median_every
        self.min_history = min_history
        self._reset()

    def _reset(self) -> None:
        self._offset: float | None = None
        # The last horizon + 2 * length values (less the offset) and, aligned with them
        # (index j = the subsequence starting at value j), the dot product of the newest
        # subsequence with each and each one's squared norm. They live in buffers of twice
        # that size, compacted when full, so a sample costs no reallocation.
        self._cap = 2 * (self.horizon + 2 * self.length)
        self._xb = np.zeros(self._cap)
        self._qb = np.zeros(self._cap)
        self._sb = np.zeros(self._cap)
        self._start = 0
        self._end = 0             # values in _xb[_start:_end]
        self._distances: deque[float] = deque(maxlen=self.median_window)
        self._median: float | None = None
        self._seen = 0            # distances computed
        self._last_ts: float | None = None

    def update(self, ts: float, value: float) -> float:
        """Consume one sample; return its raw score in [0, 1] (0 for NaN/Inf, out-of-order, warm-up)."""
        if not math.isfinite(value) or (self._last_ts is not None and ts <= self._last_ts):
            return 0.0
        self._last_ts = ts
        if self._offset is None:
            self._offset = value
        n_len = self.length
        if self._end == self._cap:
            self._compact()
        self._xb[self._end] = value - self._offset
        self._end += 1
        s0 = self._start
        x = self._xb[s0:self._end]
        m = len(x) - n_len + 1                       # subsequences in x; the newest is m - 1
        if m <= 0:
            return 0.0
        qt, ss = self._qb[s0:s0 + m], self._sb[s0:s0 + m]
        newest = x[m - 1:]
        if m == 1:
            qt[0] = newest @ newest
        else:
            # STOMP: qt_new[j + 1] = qt_old[j] - x[m - 2] x[j] + x[m - 2 + L] x[j + L]
            qt[1:] = qt[:m - 1] - x[m - 2] * x[:m - 1] + x[-1] * x[n_len:n_len + m - 1]
            qt[0] = newest @ x[:n_len]
        ss[m - 1] = newest @ newest
        drop = max(0, m - (self.horizon + n_len))
        if drop:
            self._start += drop
            x, qt, ss, m = x[drop:], qt[drop:], ss[drop:], m - drop
        last = m - 1 - n_len                          # the newest subsequence that does not overlap
        if last < 0:
            return 0.0
        d2 = ss[:last + 1] + ss[m - 1] - 2.0 * qt[:last + 1]
        d = math.sqrt(max(float(d2.min()), 0.0))
        score = 0.0
        if len(self._distances) > self.min_history:
            if self._median is None or self._seen % self.median_every == 0:
                self._median = float(np.median(np.fromiter(self._distances, float, len(self._distances))))
            score = min(1.0, d / (self.scale * self._median + 1e-12))
        self._distances.append(d)
        self._seen += 1
        return score

    def _compact(self) -> None:
        n = self._end - self._start
        for buf in (self._xb, self._qb, self._sb):
            buf[:n] = buf[self._start:self._end].copy()
        self._start, self._end = 0, n

    def _subsequences(self) -> int:
        return max(0, self._end - self._start - self.length + 1)

    def state_dict(self) -> State:
        return {
            "version": self.VERSION, "offset": self._offset, "x": self._xb[self._start:self._end].tolist(),
            "qt": self._qb[self._start:self._start + self._subsequences()].tolist(),
            "ss": self._sb[self._start:self._start + self._subsequences()].tolist(),
            "distances": list(self._distances), "median": self._median,
            "seen": self._seen, "last_ts": self._last_ts,
        }

    def load_state(self, state: State) -> None:
        if state.get("version") != self.VERSION:
            raise ValueError(f"SubsequenceDiscord state version {state.get('version')!r}, expected {self.VERSION}")
        self._reset()
        self._offset = None if state["offset"] is None else float(state["offset"])
        x, qt, ss = (np.array(state[k], dtype=float) for k in ("x", "qt", "ss"))
        if len(x) > self._cap or len(qt) != len(ss) or len(qt) != max(0, len(x) - self.length + 1):
            raise ValueError("SubsequenceDiscord state: 'x', 'qt' and 'ss' do not fit these settings")
        self._xb[:len(x)], self._qb[:len(qt)], self._sb[:len(ss)] = x, qt, ss
        self._end = len(x)
        self._distances.extend(float(v) for v in state["distances"])
        self._median = None if state["median"] is None else float(state["median"])
        self._seen = int(state["seen"])
        self._last_ts = state["last_ts"]
