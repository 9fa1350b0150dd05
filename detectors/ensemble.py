"""A shift detector and an outlier scorer behind one interface, with one anomaly score."""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from .anomaly_likelihood import AnomalyLikelihood
from .range_exceedance import RangeExceedance
from .robust_cusum import RobustCusum
from .seasonal_residual import SeasonalResidual
from .subsequence_discord import SubsequenceDiscord
from .transition_novelty import TransitionNovelty
from .types import Detection, EventKind, State

__all__ = ["Ensemble"]


class Ensemble:
    """Pages on level shifts; scores every sample for anomaly in [0, 1].

    ``update`` returns the shift and recovery events of a :class:`RobustCusum`
    (a lone spike never pages). After each ``update``, :attr:`score` holds the
    sample's anomaly score, the largest of

    - the :class:`RangeExceedance` score of the sample (a new extreme of the recent past:
      spikes and abrupt shifts);
    - ``level_weight`` times the :class:`RangeExceedance` score of the mean of the last
      ``level_window`` samples (a sustained move of the level beyond its recent range,
      which no single sample shows);
    - ``shift_weight`` times the confidence of a SHIFT decided on this sample;

      these three are damped tenfold for ``refractory`` samples after one reaches 0.5;
    - the :class:`AnomalyLikelihood` of :class:`TransitionNovelty` (a move between values
      never made before, even inside the usual range);
    - the :class:`AnomalyLikelihood` of :class:`SubsequenceDiscord` (a stretch of the
      series unlike any earlier one: a cycle that skips its peak, spikes twice as dense);
    - the :class:`AnomalyLikelihood` of :class:`SeasonalResidual` (a value unusual for
      its time of day: a day that stays flat, a peak at night);

    and then a sample keeps its score only if it is above every score of the previous
    ``suppress`` samples (else it is damped tenfold): one excursion counts once, whatever
    threshold a user picks.

    Every part is free of the series' unit and scale, so one threshold serves every
    series. The two likelihood parts are calibrated: a score ``s`` from them means the
    recent raw scores had a tail probability of ``10 ** (-10 * s)`` under their own
    history (0.5 is 1e-5). The range parts score a new extreme of the last ``horizon``
    samples at 0.5 or more, an event of probability about ``2 / horizon`` on a
    stationary series.

    Parameters
    ----------
    cusum
        The shift detector's settings (``RobustCusum`` keyword arguments).
    horizon
        :class:`RangeExceedance` horizon in samples.
    refractory
        Samples damped after a high score.
    level_window
        Samples in the moving mean whose new extremes score as level moves.
    level_weight
        Weight of the level-move score (below 1: a raw extreme ranks first).
    shift_weight
        Weight of a SHIFT's confidence in the score.
    transition, discord, seasonal, likelihood
        Settings of the :class:`TransitionNovelty`, :class:`SubsequenceDiscord`,
        :class:`SeasonalResidual` and (all three) :class:`AnomalyLikelihood` parts.
    suppress
        Samples whose scores a sample must beat to keep its own.

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

    VERSION = 4

    def __init__(
        self, cusum: dict[str, Any] | None = None, horizon: int = 5000, refractory: int = 10,
        level_window: int = 20, level_weight: float = 0.9, shift_weight: float = 0.5,
        transition: dict[str, Any] | None = None, discord: dict[str, Any] | None = None,
        seasonal: dict[str, Any] | None = None, likelihood: dict[str, Any] | None = None, suppress: int = 50,
    ) -> None:
        self.cusum = dict(cusum or {})
        self.horizon = horizon
        self.refractory = refractory
        self.level_window = level_window
        self.level_weight = level_weight
        self.shift_weight = shift_weight
        self.transition = dict(transition or {})
        self.discord = dict(discord or {})
        self.seasonal = dict(seasonal or {})
        # A 30-sample moving mean of the raw scores, longer than HTM's 10, which made more false
        # alarms (docs/detectors.md).
        self.likelihood = dict(likelihood if likelihood is not None else {"average": 30})
        self.suppress = suppress
        self._reset()

    def _reset(self) -> None:
        self._shift = RobustCusum(**self.cusum)
        # The refractory period applies to the combined score, so the parts have none.
        self._range = RangeExceedance(horizon=self.horizon, refractory=0)
        self._level = RangeExceedance(horizon=self.horizon, refractory=0, min_history=self.level_window)
        self._count = 0
        self._quiet_until = 0
        self._window: deque[float] = deque(maxlen=self.level_window)
        self._transition = TransitionNovelty(**self.transition)
        self._transition_lik = AnomalyLikelihood(**self.likelihood)
        self._discord = SubsequenceDiscord(**self.discord)
        self._discord_lik = AnomalyLikelihood(**self.likelihood)
        self._seasonal = SeasonalResidual(**self.seasonal)
        self._seasonal_lik = AnomalyLikelihood(**self.likelihood)
        self._recent: deque[float] = deque(maxlen=self.suppress)   # undamped scores of the last samples
        self._last_ts: float | None = None
        self.score = 0.0

    def update(self, ts: float, value: float) -> Detection | None:
        """Consume one sample; return a shift or recovery if this sample decides one."""
        event = self._shift.update(ts, value)
        score = self._range.update(ts, value)
        fresh = math.isfinite(value) and (self._last_ts is None or ts > self._last_ts)
        if fresh:
            self._last_ts = ts
            self._window.append(value)
            mean = math.fsum(self._window) / len(self._window)
            score = max(score, self.level_weight * self._level.update(ts, mean))
            # One excursion counts once: after a score of 0.5 or more, damp the next few.
            if self._count < self._quiet_until:
                score *= 0.1
            elif score >= 0.5:
                self._quiet_until = self._count + 1 + self.refractory
            self._count += 1
        if event is not None and event.kind is EventKind.SHIFT:
            score = max(score, self.shift_weight * event.confidence)
        if fresh:
            score = max(
                score,
                self._transition_lik.update(ts, self._transition.update(ts, value)),
                self._discord_lik.update(ts, self._discord.update(ts, value)),
                self._seasonal_lik.update(ts, self._seasonal.update(ts, value)),
            )
            beaten = bool(self._recent) and score <= max(self._recent)
            self._recent.append(score)
            if beaten:
                score *= 0.1
        self.score = score
        return event

    def state_dict(self) -> State:
        return {
            "version": self.VERSION, "shift": self._shift.state_dict(), "range": self._range.state_dict(),
            "level": self._level.state_dict(), "window": list(self._window), "last_ts": self._last_ts,
            "count": self._count, "quiet_until": self._quiet_until,
            "transition": self._transition.state_dict(), "transition_lik": self._transition_lik.state_dict(),
            "discord": self._discord.state_dict(), "discord_lik": self._discord_lik.state_dict(),
            "seasonal": self._seasonal.state_dict(), "seasonal_lik": self._seasonal_lik.state_dict(),
            "recent": list(self._recent), "score": self.score,
        }

    def load_state(self, state: State) -> None:
        if state.get("version") != self.VERSION:
            raise ValueError(f"Ensemble state version {state.get('version')!r}, expected {self.VERSION}")
        self._reset()
        self._shift.load_state(state["shift"])
        self._range.load_state(state["range"])
        self._level.load_state(state["level"])
        self._window.extend(float(v) for v in state["window"])
        self._last_ts = state["last_ts"]
        self._count = int(state["count"])
        self._quiet_until = int(state["quiet_until"])
        self._transition.load_state(state["transition"])
        self._transition_lik.load_state(state["transition_lik"])
        self._discord.load_state(state["discord"])
        self._discord_lik.load_state(state["discord_lik"])
        self._seasonal.load_state(state["seasonal"])
        self._seasonal_lik.load_state(state["seasonal_lik"])
        self._recent.extend(float(v) for v in state["recent"])
        self.score = float(state["score"])
