"""Seasonal residual: how far a sample is from what is usual at that time of day."""

from __future__ import annotations

import math

from .types import State

__all__ = ["SeasonalResidual"]

DAY = 86_400.0


class SeasonalResidual:
    """Raw anomaly score of a sample against a time-of-day profile learned online.

    The day (UTC, from each sample's timestamp, never the wall clock) is cut into
    ``buckets`` phases. Each phase keeps an exponentially weighted mean of its samples
    and of their absolute deviation from it (weight ``alpha``). Once ``warm_days`` have
    passed since the first sample and the phase has ``min_samples``, a sample scores
    ``min(1, |x - mean| / (k * deviation))``: 0 on a normal day however large the daily
    swing, high for a day that stays flat, skips its peak or peaks at night. A series
    with no daily pattern gets one profile level per phase, which is harmless.

    Its output is a raw score: :class:`~detectors.anomaly_likelihood.AnomalyLikelihood`
    turns it into a calibrated one.

    Parameters
    ----------
    buckets
        Phases per day.
    alpha
        Weight of a new sample in its phase's mean and deviation.
    k
        Deviations that score 1.
    warm_days
        Days of history before any score.
    min_samples
        Samples a phase needs before it scores.

    Examples
    --------
    >>> res = SeasonalResidual(buckets=4)
    >>> hours = range(0, 24 * 5, 6)               # 5 days, one sample every 6 hours
    >>> usual = {0: 10.0, 6: 50.0, 12: 90.0, 18: 50.0}
    >>> scores = [res.update(h * 3600.0, usual[h % 24] + (h % 7) * 0.1) for h in hours]
    >>> max(scores) < 0.5                        # a swing from 10 to 90 every day is usual
    True
    >>> res.update(24 * 5 * 3600.0, 90.0)         # the midday level at midnight
    1.0
    """

    VERSION = 1

    def __init__(
        self, buckets: int = 48, alpha: float = 0.1, k: float = 4.0, warm_days: float = 2.0, min_samples: int = 3,
    ) -> None:
        self.buckets = buckets
        self.alpha = alpha
        self.k = k
        self.warm_days = warm_days
        self.min_samples = min_samples
        self._reset()

    def _reset(self) -> None:
        self._mean: dict[int, float] = {}
        self._dev: dict[int, float] = {}
        self._count: dict[int, int] = {}
        self._first_ts: float | None = None
        self._last_ts: float | None = None

    def update(self, ts: float, value: float) -> float:
        """Consume one sample; return its raw score in [0, 1] (0 for NaN/Inf, out-of-order, warm-up)."""
        if not math.isfinite(value) or (self._last_ts is not None and ts <= self._last_ts):
            return 0.0
        self._last_ts = ts
        if self._first_ts is None:
            self._first_ts = ts
        b = int((ts % DAY) // (DAY / self.buckets))
        score = 0.0
        n = self._count.get(b, 0)
        if n == 0:
            self._mean[b], self._dev[b], self._count[b] = value, 0.0, 1
            return score
        mean, dev = self._mean[b], self._dev[b]
        if n >= self.min_samples and ts - self._first_ts >= self.warm_days * DAY:
            score = min(1.0, abs(value - mean) / (self.k * dev + 1e-9))
        a = self.alpha
        self._dev[b] = (1.0 - a) * dev + a * abs(value - mean) if n > 1 else abs(value - mean)
        self._mean[b] = (1.0 - a) * mean + a * value
        self._count[b] = n + 1
        return score

    def state_dict(self) -> State:
        return {
            "version": self.VERSION,
            "phases": {str(b): [self._mean[b], self._dev[b], self._count[b]] for b in sorted(self._mean)},
            "first_ts": self._first_ts, "last_ts": self._last_ts,
        }

    def load_state(self, state: State) -> None:
        if state.get("version") != self.VERSION:
            raise ValueError(f"SeasonalResidual state version {state.get('version')!r}, expected {self.VERSION}")
        self._reset()
        for key, (mean, dev, count) in state["phases"].items():
            b = int(key)
            self._mean[b], self._dev[b], self._count[b] = float(mean), float(dev), int(count)
        self._first_ts = state["first_ts"]
        self._last_ts = state["last_ts"]
