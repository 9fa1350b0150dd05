"""EWMA baseline and two-sided CUSUM for many series at once, state in numpy arrays."""

from __future__ import annotations

from typing import Any

import numpy as np

from .recovery import near_before
from .types import Detection, Direction, EventKind, State

__all__ = ["CusumBank", "EwmaCusum"]

_FLOAT_FIELDS = (
    "last_ts", "count", "mean", "var", "prev1", "prev2",              # baseline, last two samples
    "s_up", "s_down", "onset_up", "onset_down", "base_up", "base_down",  # the two CUSUMs
    "active", "pending", "shift_onset", "before", "spread", "after", "since", "back",  # a shift
)


class CusumBank:
    """Level-shift detection for ``size`` series that advance together, vectorised.

    Per series: an exponentially weighted mean and variance of the samples judged
    normal (``|z| <= 3``) are the baseline; each z-score is clipped to ``[-clip, clip]``
    so one glitch cannot page; two CUSUM statistics with allowance ``drift`` page when
    they pass ``threshold``. The onset is the first sample of the excursion that crossed
    (the sample after the statistic last stood at zero). After a shift the pre-shift
    level is held: ``recovery_points`` consecutive samples near it report a recovery; a
    shift that lasts ``rebaseline_after`` samples becomes the new normal, reported once
    (a later return to the pre-shift level is still reported as its recovery).

    Every step costs a few dozen numpy operations over the bank, whatever its size:
    the cost per series-point falls as the bank grows. The state is 20 float64 per
    series (160 bytes).

    Parameters
    ----------
    size
        Number of series.
    alpha
        Weight of a new sample in the baseline mean and variance.
    min_history
        Samples a series needs before anything is reported.
    drift, threshold, clip
        CUSUM allowance, decision threshold and z clipping, in baseline sigmas.
    min_relative_change, min_absolute_change
        Smallest ``|after - before| / |before|`` and ``|after - before|`` worth reporting.
    relative_floor, absolute_floor
        The baseline sigma is at least ``relative_floor * |mean|`` and ``absolute_floor``.
    recovery_points, rebaseline_after
        As described above, in samples.

    Examples
    --------
    >>> import numpy as np
    >>> bank = CusumBank(3, min_history=10)
    >>> wiggle = np.array([0.5, -0.5])
    >>> events = []
    >>> for t in range(100):
    ...     values = np.array([10.0, 100.0, 5.0]) + wiggle[t % 2]
    ...     if 60 <= t < 80:
    ...         values[1] *= 2.0
    ...     for i, ev in bank.update(float(t), values):
    ...         events.append((i, ev.kind.value, ev.onset, ev.detected_at))
    >>> events
    [(1, 'shift', 60.0, 63.0), (1, 'recovery', 60.0, 83.0)]
    """

    VERSION = 1

    def __init__(
        self, size: int, alpha: float = 0.02, min_history: int = 20, drift: float = 1.0,
        threshold: float = 10.0, clip: float = 4.0, min_relative_change: float = 0.3, min_absolute_change: float = 0.0,
        relative_floor: float = 0.05, absolute_floor: float = 1e-9, recovery_points: int = 4,
        rebaseline_after: int = 60,
    ) -> None:
        self.size = size
        self.alpha = alpha
        self.min_history = min_history
        self.drift = drift
        self.threshold = threshold
        self.clip = clip
        self.min_relative_change = min_relative_change
        self.min_absolute_change = min_absolute_change
        self.relative_floor = relative_floor
        self.absolute_floor = absolute_floor
        self.recovery_points = recovery_points
        self.rebaseline_after = rebaseline_after
        self._reset()

    def _reset(self) -> None:
        n = self.size
        self._a: dict[str, np.ndarray] = {name: np.zeros(n) for name in _FLOAT_FIELDS}
        self._a["last_ts"][:] = -np.inf

    @property
    def state_bytes_per_series(self) -> float:
        """Bytes of numpy state per series."""
        return sum(a.nbytes for a in self._a.values()) / max(self.size, 1)

    def update(self, ts: float, values: np.ndarray) -> list[tuple[int, Detection]]:
        """Advance every series by its sample at ``ts``; NaN/Inf (a gap) leaves a series untouched.

        Returns the events decided at this step as ``(series index, Detection)``.
        """
        a = self._a
        x = np.asarray(values, dtype=float)
        ok = np.isfinite(x) & (ts > a["last_ts"])
        if not ok.any():
            return []
        xs = np.where(ok, x, 0.0)
        a["last_ts"][ok] = ts
        a["count"][ok] += 1.0
        count = a["count"]
        warm = ok & (count <= self.min_history)
        live = ok & ~warm
        events: list[tuple[int, Detection]] = []

        # Warm-up: plain running mean and variance.
        if warm.any():
            w = 1.0 / count[warm]
            d = xs[warm] - a["mean"][warm]
            a["mean"][warm] += w * d
            a["var"][warm] = (1.0 - w) * (a["var"][warm] + w * d * d)

        active = a["active"] != 0.0
        pending = live & ~active & (a["pending"] != 0.0)
        recovered = np.zeros_like(live)
        if pending.any():
            recovered = self._recover(ts, xs, pending, events)
        watching = live & ~active & ~recovered
        holding = live & active
        if watching.any():
            events += self._watch(ts, xs, watching)
        if holding.any():
            events += self._hold(ts, xs, holding)
        a["prev2"][ok] = a["prev1"][ok]
        a["prev1"][ok] = xs[ok]
        return events

    def _sigma(self, mean: np.ndarray, var: np.ndarray) -> np.ndarray:
        sigma: np.ndarray = np.maximum(np.maximum(np.sqrt(var), self.relative_floor * np.abs(mean)),
                                       self.absolute_floor)
        return sigma

    def _watch(self, ts: float, xs: np.ndarray, m: np.ndarray) -> list[tuple[int, Detection]]:
        a = self._a
        mean, var = a["mean"], a["var"]
        sigma = self._sigma(mean, var)
        z = np.clip((xs - mean) / sigma, -self.clip, self.clip)
        up_prev, down_prev = a["s_up"].copy(), a["s_down"].copy()
        s_up = np.where(m, np.maximum(0.0, up_prev + z - self.drift), up_prev)
        s_down = np.where(m, np.maximum(0.0, down_prev - z - self.drift), down_prev)
        # An excursion begins when a statistic leaves zero: note when, and the level then.
        for side, prev, s in (("up", up_prev, s_up), ("down", down_prev, s_down)):
            start = m & (prev == 0.0) & (s > 0.0)
            a[f"onset_{side}"][start] = ts
            a[f"base_{side}"][start] = mean[start]
        a["s_up"], a["s_down"] = s_up, s_down
        events: list[tuple[int, Detection]] = []
        fired = m & ((s_up > self.threshold) | (s_down > self.threshold))
        for i in np.flatnonzero(fired):
            up = s_up[i] > self.threshold
            side = "up" if up else "down"
            # A shift needs at least threshold / (clip - drift) > 3 samples: the median of the
            # last three is past the onset, and robust to one early noisy sample.
            after = float(np.median([a["prev2"][i], a["prev1"][i], xs[i]]))
            before = a[f"base_{side}"][i]   # the level when the excursion began
            if abs(after - before) < max(self.min_relative_change * abs(before), self.min_absolute_change,
                                         self.absolute_floor):
                continue
            onset = a[f"onset_{side}"][i]
            stat = s_up[i] if up else s_down[i]
            effect = abs(after - before) / sigma[i]
            confidence = 1.0 - np.exp(-max(0.0, effect - 1.0) / 3.0) * np.exp(-(stat - self.threshold) / 20.0)
            a["active"][i] = 1.0 if up else -1.0
            a["before"][i], a["spread"][i], a["after"][i] = before, sigma[i], after
            a["since"][i] = a["back"][i] = a["pending"][i] = 0.0
            a["shift_onset"][i] = onset
            a["s_up"][i] = a["s_down"][i] = 0.0
            events.append((int(i), Detection(
                EventKind.SHIFT, float(onset), ts, Direction.UP if up else Direction.DOWN, float(before),
                float(after), float(min(1.0, max(0.0, confidence))),
            )))
        # Ordinary samples keep the baseline moving (slow drifts, daily cycles); outliers stay out.
        calm = m & (np.abs(z) <= 3.0) & (a["active"] == 0.0)
        d = xs[calm] - mean[calm]
        mean[calm] += self.alpha * d
        var[calm] = (1.0 - self.alpha) * (var[calm] + self.alpha * d * d)
        return events

    def _near(self, xs: np.ndarray, m: np.ndarray) -> np.ndarray:
        a = self._a
        before, spread, after = a["before"], a["spread"], a["after"]
        near: np.ndarray = m & near_before(xs, before, after, spread)
        a["back"][near] += 1.0
        a["back"][m & ~near] = 0.0
        return near

    def _recovery(self, i: int, ts: float) -> Detection:
        a = self._a
        return Detection(
            EventKind.RECOVERY, float(a["shift_onset"][i]), ts,
            Direction.UP if a["active"][i] > 0 or a["pending"][i] > 0 else Direction.DOWN,
            float(a["after"][i]), float(a["before"][i]), 1.0,
        )

    def _recover(self, ts: float, xs: np.ndarray, m: np.ndarray, events: list[tuple[int, Detection]]) -> np.ndarray:
        """Re-baselined shifts: report the way back to the old level."""
        a = self._a
        self._near(xs, m)
        done: np.ndarray = m & (a["back"] >= self.recovery_points)
        for i in np.flatnonzero(done):
            events.append((int(i), self._recovery(int(i), ts)))
        a["pending"][done] = 0.0
        a["mean"][done] = a["before"][done]
        a["s_up"][done] = a["s_down"][done] = 0.0
        return done

    def _hold(self, ts: float, xs: np.ndarray, m: np.ndarray) -> list[tuple[int, Detection]]:
        a = self._a
        after = a["after"]
        near = self._near(xs, m)
        a["since"][m] += 1.0
        # Follow the shifted level, so that re-baselining starts from it.
        far = m & ~near
        after[far] += 0.1 * (xs[far] - after[far])
        events: list[tuple[int, Detection]] = []
        for i in np.flatnonzero(m & (a["back"] >= self.recovery_points)):
            events.append((int(i), self._recovery(int(i), ts)))
            a["active"][i] = 0.0
        rebase = m & (a["active"] != 0.0) & ~near & (a["since"] >= self.rebaseline_after)
        if rebase.any():
            a["mean"][rebase] = after[rebase]
            a["pending"][rebase] = a["active"][rebase]
            a["active"][rebase] = 0.0
            a["back"][rebase] = 0.0
        return events

    def state_dict(self) -> State:
        return {
            "version": self.VERSION, "size": self.size,
            "arrays": {k: [None if not np.isfinite(v) else float(v) for v in arr] if k == "last_ts"
                       else arr.tolist() for k, arr in self._a.items()},
        }

    def load_state(self, state: State) -> None:
        if state.get("version") != self.VERSION:
            raise ValueError(f"CusumBank state version {state.get('version')!r}, expected {self.VERSION}")
        if state["size"] != self.size:
            raise ValueError(f"CusumBank state holds {state['size']} series, this bank {self.size}")
        self._reset()
        for k in _FLOAT_FIELDS:
            values: list[Any] = state["arrays"][k]
            self._a[k][:] = [(-np.inf if v is None else v) for v in values]


class EwmaCusum:
    """One series of a :class:`CusumBank`, behind the :class:`~detectors.types.Detector` protocol.

    Examples
    --------
    >>> det = EwmaCusum(min_history=10)
    >>> out = [det.update(float(t), 5.0 + (t % 2) * 0.1 + (5.0 if t >= 50 else 0.0)) for t in range(80)]
    >>> [(e.kind.value, e.onset) for e in out if e]
    [('shift', 50.0)]
    """

    def __init__(self, **settings: Any) -> None:
        self.settings = dict(settings)
        self._reset()

    def _reset(self) -> None:
        self._bank = CusumBank(1, **self.settings)
        self._one = np.empty(1)

    def update(self, ts: float, value: float) -> Detection | None:
        self._one[0] = value
        events = self._bank.update(ts, self._one)
        return events[0][1] if events else None

    def state_dict(self) -> State:
        return self._bank.state_dict()

    def load_state(self, state: State) -> None:
        self._bank.load_state(state)
