"""First-order transition novelty: how unexpected a move from the previous value's bin is."""

from __future__ import annotations

import bisect
import math

from .types import State

__all__ = ["TransitionNovelty"]


class TransitionNovelty:
    """Raw anomaly score of a sample from the transitions seen so far between value bins.

    Values are cut into bins of one width, fixed once the first ``warmup`` finite samples
    are in: their range divided by ``bins`` (values outside that range get bins of their
    own, so the bins never move). For every bin the detector remembers which bins followed
    it. A sample scores ``min(1, d / reach)``, with ``d`` the distance in bins from its bin
    to the nearest bin ever seen after the previous sample's bin (1 if that bin was never
    left). A familiar move scores 0 however unusual the value; a move never made before
    scores high even within the usual range: a square wave that skips a step, a daily
    cycle that stays flat.

    This is a first-order sequence memory, which Fergal Byrne found is all the temporal
    memory that mattered in HTM's NAB result ("Attempting the Numenta Anomaly Benchmark",
    2016). Its output is a raw score: :class:`~detectors.anomaly_likelihood.AnomalyLikelihood`
    turns it into a calibrated one.

    Parameters
    ----------
    warmup
        Samples whose range fixes the bin width (scores are 0 until then).
    bins
        Bins across the warm-up range.
    reach
        Distance in bins that scores 1.

    Examples
    --------
    >>> tn = TransitionNovelty(warmup=8, bins=4, reach=2)
    >>> wave = [0.0, 0.0, 4.0, 4.0] * 4
    >>> [round(tn.update(float(t), v), 2) for t, v in enumerate(wave + [0.0, 2.0, 4.0])]
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0]
    """

    VERSION = 1

    def __init__(self, warmup: int = 300, bins: int = 30, reach: int = 3) -> None:
        self.warmup = warmup
        self.bins = bins
        self.reach = reach
        self._reset()

    def _reset(self) -> None:
        self._pending: list[float] = []          # the warm-up samples, until the width is fixed
        self._width: float | None = None
        self._successors: dict[int, list[int]] = {}   # bin -> sorted bins seen after it
        self._previous: int | None = None
        self._last_ts: float | None = None

    def update(self, ts: float, value: float) -> float:
        """Consume one sample; return its raw score in [0, 1] (0 for NaN/Inf, out-of-order, warm-up)."""
        if not math.isfinite(value) or (self._last_ts is not None and ts <= self._last_ts):
            return 0.0
        self._last_ts = ts
        if self._width is None:
            self._pending.append(value)
            if len(self._pending) < self.warmup:
                return 0.0
            lo, hi = min(self._pending), max(self._pending)
            mean = math.fsum(self._pending) / len(self._pending)
            self._width = max((hi - lo) / self.bins, 1e-9 * max(1.0, abs(mean)))
            for v in self._pending:
                self._step(v)
            self._pending = []
            return 0.0
        return self._step(value)

    def _step(self, value: float) -> float:
        assert self._width is not None
        b = math.floor(value / self._width)
        score = 0.0
        if self._previous is not None:
            seen = self._successors.setdefault(self._previous, [])
            if seen:
                i = bisect.bisect_left(seen, b)
                d = min(abs(b - seen[j]) for j in (i - 1, i) if 0 <= j < len(seen))
                score = min(1.0, d / self.reach)
                if d:
                    seen.insert(i, b)
            else:
                score = 1.0
                seen.append(b)
        self._previous = b
        return score

    def state_dict(self) -> State:
        return {
            "version": self.VERSION, "pending": list(self._pending), "width": self._width,
            "successors": {str(k): list(v) for k, v in self._successors.items()},
            "previous": self._previous, "last_ts": self._last_ts,
        }

    def load_state(self, state: State) -> None:
        if state.get("version") != self.VERSION:
            raise ValueError(f"TransitionNovelty state version {state.get('version')!r}, expected {self.VERSION}")
        self._reset()
        self._pending = [float(v) for v in state["pending"]]
        self._width = None if state["width"] is None else float(state["width"])
        self._successors = {int(k): [int(b) for b in v] for k, v in state["successors"].items()}
        self._previous = None if state["previous"] is None else int(state["previous"])
        self._last_ts = state["last_ts"]
