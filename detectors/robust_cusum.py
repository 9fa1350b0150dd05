"""Two-sided CUSUM on residuals from a robust rolling baseline."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from typing import Any

import numpy as np

from .recovery import near_before, significant
from .types import Detection, Direction, EventKind, State

__all__ = ["RobustCusum"]

_MAD_TO_SIGMA = 1.4826


def _median(values: Iterable[float]) -> float:
    """The median, bit for bit what ``numpy.median`` gives (the mean of the two middle values
    for an even count), without numpy's per-call overhead, which dominates on a 60-sample window.

    >>> _median([3.0, 1.0, 2.0]), _median([4.0, 1.0, 3.0, 2.0])
    (2.0, 2.5)
    """
    s = sorted(values)
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2


class RobustCusum:
    """Online level-shift detector: robust baseline, winsorised z-scores, two-sided CUSUM.

    The baseline is the median of the last ``window`` samples judged normal, its
    spread the MAD (floored so that a flat series is not infinitely sensitive).
    Each sample's z-score is clipped to ``[-clip, clip]`` so that one glitch can
    never reach the threshold ``h`` alone; a shift must persist. The onset is
    the last time the CUSUM statistic was at zero before it crossed ``h``.

    After a shift the detector holds the pre-shift level and reports a recovery
    once ``recovery_points`` consecutive samples are back near it. A shift that
    persists for ``rebaseline_after`` samples becomes the new normal: the
    baseline is rebuilt from it so it is reported once, not forever.

    Parameters
    ----------
    window
        Samples in the rolling baseline.
    min_history
        Samples needed before anything is reported (a series starting mid-stream warms up first).
    drift
        CUSUM allowance ``k`` in baseline sigmas.
    threshold
        CUSUM decision threshold ``h``.
    clip
        Winsorisation of z-scores.
    min_relative_change
        Smallest ``|after - before| / |before|`` worth reporting.
    min_absolute_change
        Smallest ``|after - before|`` worth reporting.
    relative_floor
        The spread is at least this fraction of the baseline level.
    absolute_floor
        The spread is at least this much.
    recovery_points
        Consecutive near-baseline samples that make a recovery.
    rebaseline_after
        Samples after the onset at which a persisting shift becomes the new normal.

    Examples
    --------
    >>> det = RobustCusum(window=30, min_history=10)
    >>> events = []
    >>> for t in range(100):
    ...     value = 10.0 + (0.5 if t % 2 else -0.5) + (20.0 if 60 <= t < 80 else 0.0)
    ...     event = det.update(float(t), value)
    ...     if event:
    ...         events.append((event.kind.value, event.onset, event.detected_at))
    >>> events
    [('shift', 60.0, 63.0), ('recovery', 60.0, 83.0)]
    """

    VERSION = 1

    def __init__(
        self,
        window: int = 60,
        min_history: int = 20,
        drift: float = 1.0,
        threshold: float = 10.0,
        clip: float = 4.0,
        min_relative_change: float = 0.3,
        min_absolute_change: float = 0.0,
        relative_floor: float = 0.05,
        absolute_floor: float = 1e-9,
        recovery_points: int = 4,
        rebaseline_after: int = 60,
    ) -> None:
        self.window = window
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
        self._history: deque[float] = deque(maxlen=self.window)
        self._memo: tuple[float, float] | None = None  # the baseline of the current history
        self._recent: deque[tuple[float, float]] = deque(maxlen=self.window)
        self._recent_z: deque[float] = deque(maxlen=self.window)
        self._s_up = 0.0
        self._s_down = 0.0
        self._last_ts: float | None = None
        # Active shift, if any; a persisting shift that became the new normal.
        self._active: dict[str, Any] | None = None
        self._pending: dict[str, Any] | None = None

    # -- read-only views (for wrappers such as SeasonalCusum) --------------------
    @property
    def in_shift(self) -> bool:
        """Whether a reported shift is open (not yet recovered nor re-baselined)."""
        return self._active is not None

    @property
    def settled(self) -> bool:
        """Neither in a shift nor holding an absorbed one that may still recover."""
        return self._active is None and self._pending is None

    @property
    def evidence(self) -> float:
        """The larger CUSUM statistic as a fraction of the threshold (1 decides a shift)."""
        return max(self._s_up, self._s_down) / self.threshold

    @property
    def reference_level(self) -> float | None:
        """The level samples are compared with: the baseline, or the pre-shift level during a shift."""
        if self._active is not None:
            return float(self._active["before"])
        if len(self._history) < self.min_history:
            return None
        return self._baseline()[0]

    def current_baseline(self) -> tuple[float, float] | None:
        """The baseline ``(level, spread)`` the next sample is judged against; None while warming up."""
        if self._active is not None or len(self._history) < self.min_history:
            return None
        return self._baseline()

    # -- baseline -------------------------------------------------------------
    def _baseline(self) -> tuple[float, float]:
        if self._memo is None:
            self._memo = self._compute_baseline()
        return self._memo

    def _compute_baseline(self) -> tuple[float, float]:
        level = _median(self._history)
        mad = _median([abs(v - level) for v in self._history]) * _MAD_TO_SIGMA
        spread = max(mad, self.relative_floor * abs(level), self.absolute_floor)
        return level, spread

    def _significant(self, before: float, after: float) -> bool:
        return significant(before, after, min_absolute=self.min_absolute_change,
                           min_relative=self.min_relative_change, floor=self.absolute_floor)

    # -- update ---------------------------------------------------------------
    def update(self, ts: float, value: float) -> Detection | None:
        """Consume one sample; return a shift or recovery if this sample decides one."""
        if not math.isfinite(value):
            return None  # a gap or a NaN carries no evidence either way
        if self._last_ts is not None and ts <= self._last_ts:
            return None  # out of order or duplicate
        self._last_ts = ts
        if self._active is not None:
            return self._update_active(ts, value)
        if self._pending is not None:
            recovered = self._check_pending(ts, value)
            if recovered is not None:
                return recovered
        if len(self._history) < self.min_history:
            self._history.append(value)
            self._memo = None
            return None
        level, spread = self._baseline()
        z = max(-self.clip, min(self.clip, (value - level) / spread))
        self._recent.append((ts, value))
        self._recent_z.append(z)
        self._s_up = max(0.0, self._s_up + z - self.drift)
        self._s_down = max(0.0, self._s_down - z - self.drift)
        for direction, stat, sign in ((Direction.UP, self._s_up, 1.0), (Direction.DOWN, self._s_down, -1.0)):
            if stat > self.threshold:
                onset_index = self._onset_index(sign)
                points = list(self._recent)[onset_index:]
                after = _median([v for _, v in points])
                if self._significant(level, after):
                    return self._open(ts, points[0][0], direction, level, spread, after, stat)
        if abs(z) <= 3.0:
            # Outliers stay out of the baseline; ordinary values (slow drifts
            # such as daily cycles included) keep it moving.
            self._history.append(value)
            self._memo = None
        return None

    def _onset_index(self, sign: float) -> int:
        """The most likely start of the shift: argmax over tau of sum_{t >= tau} (sign * z_t - drift)."""
        z = np.fromiter(self._recent_z, dtype=float, count=len(self._recent_z))
        gains = np.cumsum((sign * z - self.drift)[::-1])[::-1]
        offset = len(self._recent) - len(z)
        return offset + int(np.argmax(gains))

    def _open(
        self, ts: float, onset: float, direction: Direction, level: float, spread: float,
        after: float, stat: float,
    ) -> Detection:
        effect = abs(after - level) / spread
        confidence = 1.0 - math.exp(-max(0.0, effect - 1.0) / 3.0) * math.exp(-(stat - self.threshold) / 20.0)
        confidence = max(0.0, min(1.0, confidence))
        self._pending = None  # a new shift supersedes an absorbed one
        self._active = {
            "onset": onset, "direction": direction.value, "before": level, "spread": spread,
            "after": after, "back": 0, "count": 0, "rebased": False, "values": [],
        }
        self._s_up = self._s_down = 0.0
        self._recent.clear()
        self._recent_z.clear()
        return Detection(EventKind.SHIFT, onset, ts, direction, level, after, confidence)

    def _update_active(self, ts: float, value: float) -> Detection | None:
        act = self._active
        assert act is not None
        act["count"] += 1
        act["values"] = (act["values"] + [value])[-self.window:]
        before, spread = act["before"], act["spread"]
        near = near_before(value, before, act["after"], spread)
        act["back"] = act["back"] + 1 if near else 0
        if act["back"] >= self.recovery_points:
            self._active = None
            self._s_up = self._s_down = 0.0
            direction = Direction(act["direction"])
            return Detection(
                EventKind.RECOVERY, act["onset"], ts, direction, act["after"], before, 1.0,
            )
        if not near and act["count"] >= self.rebaseline_after:
            # The shift persisted: it is the new normal. Rebuild the baseline from
            # it and go back to watching, still ready to report the way back.
            self._history.clear()
            self._history.extend(act["values"])
            self._memo = None
            self._recent.clear()
            self._recent_z.clear()
            act["rebased"] = True
            self._pending = act
            self._active = None
            self._s_up = self._s_down = 0.0
        return None

    def _check_pending(self, ts: float, value: float) -> Detection | None:
        pend = self._pending
        assert pend is not None
        near = near_before(value, pend["before"], pend["after"], pend["spread"])
        pend["back"] = pend["back"] + 1 if near else 0
        if pend["back"] < self.recovery_points:
            return None
        self._pending = None
        self._history.clear()
        self._history.extend(v for _, v in list(self._recent)[-self.recovery_points:])
        self._memo = None
        self._s_up = self._s_down = 0.0
        return Detection(
            EventKind.RECOVERY, pend["onset"], ts, Direction(pend["direction"]), pend["after"],
            pend["before"], 1.0,
        )

    # -- state ----------------------------------------------------------------
    def state_dict(self) -> State:
        return {
            "version": self.VERSION,
            "history": list(self._history),
            "recent": [list(p) for p in self._recent],
            "recent_z": list(self._recent_z),
            "s_up": self._s_up,
            "s_down": self._s_down,
            "last_ts": self._last_ts,
            "active": dict(self._active) if self._active else None,
            "pending": dict(self._pending) if self._pending else None,
        }

    def load_state(self, state: State) -> None:
        if state.get("version") != self.VERSION:
            raise ValueError(f"RobustCusum state version {state.get('version')!r}, expected {self.VERSION}")
        self._reset()
        self._history.extend(float(v) for v in state["history"])
        self._memo = None
        self._recent.extend((float(t), float(v)) for t, v in state["recent"])
        self._s_up = float(state["s_up"])
        self._s_down = float(state["s_down"])
        self._recent_z.extend(float(z) for z in state["recent_z"])
        self._last_ts = state["last_ts"]
        self._active = dict(state["active"]) if state["active"] else None
        self._pending = dict(state["pending"]) if state["pending"] else None
