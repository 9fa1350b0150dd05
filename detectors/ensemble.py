"""A shift detector and an outlier scorer behind one interface, with one anomaly score."""

from __future__ import annotations

from typing import Any

from .range_exceedance import RangeExceedance
from .robust_cusum import RobustCusum
from .types import Detection, EventKind, State

__all__ = ["Ensemble"]


class Ensemble:
    """Pages on level shifts; scores every sample for anomaly in [0, 1].

    ``update`` returns the shift and recovery events of a :class:`RobustCusum`
    (a lone spike never pages). After each ``update``, :attr:`score` holds the
    sample's anomaly score: the larger of the :class:`RangeExceedance` score (new
    extremes of the recent past, damped for a few samples after one) and
    ``shift_weight`` times the confidence of a SHIFT decided on this sample.
    Both parts are free of the series' unit and scale, so one threshold serves every
    series; the score is monotone in evidence, not a probability.

    Parameters
    ----------
    cusum
        The shift detector's settings (``RobustCusum`` keyword arguments).
    horizon
        :class:`RangeExceedance` horizon in samples.
    refractory
        :class:`RangeExceedance` refractory period in samples.
    shift_weight
        Weight of a SHIFT's confidence in the score.

    Examples
    --------
    >>> ens = Ensemble(cusum={"window": 30, "min_history": 10}, horizon=500)
    >>> scores, events = [], []
    >>> for t in range(100):
    ...     value = 10.0 + (0.5 if t % 2 else -0.5) + (20.0 if 60 <= t < 80 else 0.0)
    ...     event = ens.update(float(t), value)
    ...     scores.append(ens.score)
    ...     if event:
    ...         events.append((event.kind.value, event.onset))
    >>> events
    [('shift', 60.0), ('recovery', 60.0)]
    >>> max(range(100), key=scores.__getitem__)
    60
    """

    VERSION = 1

    def __init__(
        self, cusum: dict[str, Any] | None = None, horizon: int = 5000, refractory: int = 10,
        shift_weight: float = 0.5,
    ) -> None:
        self.cusum = dict(cusum or {})
        self.horizon = horizon
        self.refractory = refractory
        self.shift_weight = shift_weight
        self._reset()

    def _reset(self) -> None:
        self._shift = RobustCusum(**self.cusum)
        self._range = RangeExceedance(horizon=self.horizon, refractory=self.refractory)
        self.score = 0.0

    def update(self, ts: float, value: float) -> Detection | None:
        """Consume one sample; return a shift or recovery if this sample decides one."""
        event = self._shift.update(ts, value)
        score = self._range.update(ts, value)
        if event is not None and event.kind is EventKind.SHIFT:
            score = max(score, self.shift_weight * event.confidence)
        self.score = score
        return event

    def state_dict(self) -> State:
        return {
            "version": self.VERSION, "shift": self._shift.state_dict(), "range": self._range.state_dict(),
            "score": self.score,
        }

    def load_state(self, state: State) -> None:
        if state.get("version") != self.VERSION:
            raise ValueError(f"Ensemble state version {state.get('version')!r}, expected {self.VERSION}")
        self._reset()
        self._shift.load_state(state["shift"])
        self._range.load_state(state["range"])
        self.score = float(state["score"])
