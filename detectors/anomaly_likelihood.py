"""Anomaly likelihood: a raw anomaly score turned into a calibrated tail probability."""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from .types import State

__all__ = ["AnomalyLikelihood"]

_P_FLOOR = 1e-10  # the smallest tail probability reported: score 1


class AnomalyLikelihood:
    """How improbable the recent raw anomaly scores are, given their own history.

    Raw scores (any stream in ``[0, 1]``, such as a prediction error or a novelty score)
    are noisy and their typical level differs from series to series. Following Ahmad et
    al. (2017, "Unsupervised real-time anomaly detection for streaming data", the anomaly
    likelihood of Numenta's HTM detector), the mean of the last ``average`` raw scores is
    compared with a normal distribution fitted to the last ``history`` such means
    (re-fitted every ``reestimate`` samples; mean at least ``min_mean``, variance at least
    ``min_variance``). The tail probability ``p`` of the current mean (a mean below the
    fitted one is reflected above it) is reported on a log scale,

    ``score = log10(p) / log10(1e-10)``, clipped to ``[0, 1]``,

    so the score has one meaning on every series: 0.5 is ``p = 1e-5``, 0.3 is ``p = 1e-3``,
    1 is ``p <= 1e-10``. Only the first sample of a run with ``p <= red`` keeps its score;
    the rest of the run is reported at ``p = yellow`` (one excursion counts once). Nothing
    is scored (0) for the first ``learning`` samples.

    Parameters
    ----------
    average
        Raw scores in the short moving mean.
    history
        Moving means kept for the fit.
    learning
        Samples before the first score.
    reestimate
        Samples between re-fits of the distribution.
    min_mean, min_variance
        Floors of the fitted distribution (a series that is always perfectly predicted
        must not make the first small error infinitely improbable).
    red, yellow
        Tail probabilities of the run filter.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(7)
    >>> lik = AnomalyLikelihood(learning=200)
    >>> scores = [lik.update(float(t), 0.1 * rng.random() + (0.9 if t >= 900 else 0.0)) for t in range(1000)]
    >>> max(scores[:900]) < 0.3      # nothing improbable while raw scores stay low
    True
    >>> round(scores[900], 2), round(scores[901], 2)   # the jump scores once, the run after it at p = 1e-3
    (0.64, 0.3)
    """

    VERSION = 1

    def __init__(
        self, average: int = 10, history: int = 8640, learning: int = 388, reestimate: int = 100,
        min_mean: float = 0.03, min_variance: float = 0.0003, red: float = 1e-5, yellow: float = 1e-3,
    ) -> None:
        self.average = average
        self.history = history
        self.learning = learning
        self.reestimate = reestimate
        self.min_mean = min_mean
        self.min_variance = min_variance
        self.red = red
        self.yellow = yellow
        self._reset()

    def _reset(self) -> None:
        self._window: deque[float] = deque(maxlen=self.average)
        self._means: deque[float] = deque(maxlen=self.history)
        self._count = 0
        self._mean: float | None = None
        self._std = 0.0
        self._in_red = False
        self._last_ts: float | None = None

    def update(self, ts: float, raw: float) -> float:
        """Consume one raw score; return the log-scaled improbability in [0, 1] (0 for NaN or out-of-order)."""
        if not math.isfinite(raw) or (self._last_ts is not None and ts <= self._last_ts):
            return 0.0
        self._last_ts = ts
        t = self._count
        self._count += 1
        self._window.append(raw)
        moving = math.fsum(self._window) / len(self._window)
        self._means.append(moving)
        if t < self.learning:
            return 0.0
        if self._mean is None or t % self.reestimate == 0:
            means = np.fromiter(self._means, float, len(self._means))
            self._mean = max(float(means.mean()), self.min_mean)
            self._std = math.sqrt(max(float(means.var()), self.min_variance))
        x = moving if moving >= self._mean else 2.0 * self._mean - moving
        p = 0.5 * math.erfc((x - self._mean) / self._std / math.sqrt(2.0))
        red = p <= self.red
        if red and self._in_red:
            p = self.yellow
        self._in_red = red
        return min(1.0, max(0.0, math.log10(max(p, _P_FLOOR)) / math.log10(_P_FLOOR)))

    def state_dict(self) -> State:
        return {
            "version": self.VERSION, "window": list(self._window), "means": list(self._means),
            "count": self._count, "mean": self._mean, "std": self._std, "in_red": self._in_red,
            "last_ts": self._last_ts,
        }

    def load_state(self, state: State) -> None:
        if state.get("version") != self.VERSION:
            raise ValueError(f"AnomalyLikelihood state version {state.get('version')!r}, expected {self.VERSION}")
        self._reset()
        self._window.extend(float(v) for v in state["window"])
        self._means.extend(float(v) for v in state["means"])
        self._count = int(state["count"])
        self._mean = None if state["mean"] is None else float(state["mean"])
        self._std = float(state["std"])
        self._in_red = bool(state["in_red"])
        self._last_ts = state["last_ts"]
