"""Scale-free outlier score: how far a sample falls outside the range of the recent past."""

from __future__ import annotations

import math
from collections import deque

from .types import State

__all__ = ["RangeExceedance"]


class RangeExceedance:
    """Online score of a sample's excess beyond the min-max range of the last ``horizon`` samples.

    With ``hi`` and ``lo`` the extremes of the previous ``horizon`` finite samples, the
    excess is ``e = max(x - hi, lo - x) / (hi - lo)``. A sample inside the range scores 0;
    a new extreme scores ``0.5 + 0.5 * (1 - exp(-e))``, in ``[0.5, 1)``. The score is
    free of the series' unit and scale, so one threshold serves every series, and it
    is exact: extremes come from two monotone queues (amortised O(1) per sample).

    After a sample scores at least 0.5, the next ``refractory`` scores are scaled by 0.1
    so that one excursion counts once.

    This is a scorer, not a :class:`~detectors.types.Detector`: a lone spike is exactly
    what it scores highest, and a lone spike must not page. :class:`~detectors.ensemble.Ensemble`
    combines it with a shift detector.

    Parameters
    ----------
    horizon
        Samples whose range defines "normal".
    min_history
        Samples needed before any score above 0.
    refractory
        Samples after a new extreme whose scores are damped.

    Examples
    --------
    >>> scorer = RangeExceedance(horizon=100, min_history=5)
    >>> [round(scorer.update(float(t), v), 3) for t, v in enumerate([1, 3, 2, 3, 1, 2, 2.5, 5, 2, 0])]
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.816, 0.0, 0.061]
    """

    VERSION = 1

    def __init__(self, horizon: int = 5000, min_history: int = 10, refractory: int = 10) -> None:
        self.horizon = horizon
        self.min_history = min_history
        self.refractory = refractory
        self._reset()

    def _reset(self) -> None:
        self._count = 0                                   # finite samples seen
        self._max: deque[tuple[int, float]] = deque()     # (index, value), values decreasing
        self._min: deque[tuple[int, float]] = deque()     # (index, value), values increasing
        self._quiet_until = 0                             # damped while count < this
        self._last_ts: float | None = None

    def update(self, ts: float, value: float) -> float:
        """Consume one sample and return its score in [0, 1] (0 for NaN/Inf or out-of-order)."""
        if not math.isfinite(value) or (self._last_ts is not None and ts <= self._last_ts):
            return 0.0
        self._last_ts = ts
        score = 0.0
        if self._count >= self.min_history:
            hi, lo = self._max[0][1], self._min[0][1]
            span = max(hi - lo, 1e-12 * max(abs(hi), abs(lo), 1.0))
            excess = max(value - hi, lo - value) / span
            if excess > 0.0:
                score = 0.5 + 0.5 * (1.0 - math.exp(-excess))
        if self._count < self._quiet_until:
            score *= 0.1
        elif score >= 0.5:
            self._quiet_until = self._count + 1 + self.refractory
        self._push(value)
        return score

    def _push(self, value: float) -> None:
        i = self._count
        self._count += 1
        while self._max and self._max[-1][1] <= value:
            self._max.pop()
        self._max.append((i, value))
        while self._min and self._min[-1][1] >= value:
            self._min.pop()
        self._min.append((i, value))
        oldest = self._count - self.horizon
        while self._max[0][0] < oldest:
            self._max.popleft()
        while self._min[0][0] < oldest:
            self._min.popleft()

    def state_dict(self) -> State:
        return {
            "version": self.VERSION, "count": self._count, "quiet_until": self._quiet_until,
            "last_ts": self._last_ts, "max": [list(p) for p in self._max], "min": [list(p) for p in self._min],
        }

    def load_state(self, state: State) -> None:
        if state.get("version") != self.VERSION:
            raise ValueError(f"RangeExceedance state version {state.get('version')!r}, expected {self.VERSION}")
        self._reset()
        self._count = int(state["count"])
        self._quiet_until = int(state["quiet_until"])
        self._last_ts = state["last_ts"]
        self._max.extend((int(i), float(v)) for i, v in state["max"])
        self._min.extend((int(i), float(v)) for i, v in state["min"])
