"""A CUSUM on the residual from a robust daily (and weekly) seasonal profile."""

from __future__ import annotations

import math
from array import array
from collections import deque
from dataclasses import replace

from .robust_cusum import RobustCusum
from .types import Detection, EventKind, State

__all__ = ["SeasonalCusum"]

_DAY = 86_400.0
_WEEK_DAYS = 7
_EPOCH_DOW = 3  # 1970-01-01 was a Thursday: day-of-week 3 with Monday = 0


class SeasonalCusum:
    """Level-shift detector for signals with a daily cycle (and optionally a weekly one).

    The series is divided by its expected shape at the sample's time of day before a
    :class:`RobustCusum` sees it, so a daily traffic cycle is not an anomaly while a step
    on top of it still is. The shape is a profile of ``buckets`` knots over the day
    (linear interpolation between knot centres) normalised to mean 1; each knot is a
    time-weighted EWMA in which a whole visit weighs ``exp(-1 / profile_days)`` on the
    older ones (a memory of about ``profile_days`` days). Time is always the samples'
    timestamps (UTC), never a clock.

    Warm-up: until a whole ``period`` has passed since the first sample and every knot
    has had at least half a visit's worth of samples, the shape is 1 and the detector is
    exactly a :class:`RobustCusum` (which may page on the cycle then). Meanwhile the
    knots learn raw values, skipping lone glitches (further than ``glitch_band`` from the
    median of the last five values). Once the shape is on, a knot learns ``value`` over
    the inner detector's level (so a level shift does not bend the shape). For its first
    ``young_visits`` days it still learns every sample but glitches, what comes during a
    shift being held until the shift recovers, so that an incident on the first day is
    outvoted by the next days instead of paging every day at that hour (it pages once
    more, the next day). After that it learns only from samples the inner detector finds
    ordinary: no shift open, its CUSUM below ``learn_evidence`` of the threshold (nothing
    building up, such as a slow creep), within ``learn_sigmas`` of its baseline.

    With ``weekly``, once seven whole days (18 hours of samples at least) have been seen,
    seven day-of-week level factors multiply the shape: each is an EWMA over weeks of
    that day's mean (of the series over its daily shape) over the mean of the last seven
    days, interpolated between noons so that midnight is no step.

    When either switches on, the inner detector restarts warmed up on the last
    ``min_history`` samples divided by the new factors (no blind spell); a shift it held
    from before is closed without a RECOVERY (on the first day it was most likely the
    cycle itself).

    ``before`` and ``after`` of an event are the inner detector's levels scaled back by the
    expected shape at the deciding sample: the levels as they would read at that time of day.
    A negative or zero profile (a signal that is not positive) leaves the shape at 1.

    Parameters
    ----------
    buckets
        Knots of the daily profile (24: hourly).
    period
        Length of the cycle in seconds (a day).
    profile_days
        Memory of the profile, in visits (days).
    learn_sigmas
        Once the shape is on, samples further than this from the inner baseline are not learnt.
    learn_evidence
        Once the shape is on, nothing is learnt while the inner CUSUM holds more than this
        fraction of its threshold (a change may be building up, e.g. a slow creep).
    young_visits
        A knot learnt on fewer days than this learns every sample but lone glitches,
        holding what comes during a shift until it recovers (see ``_reference``).
    glitch_band
        Until the shape is on, and for young knots, samples further than this fraction
        from the median of the last five are not learnt.
    weekly
        Learn and apply day-of-week level factors once a week has been seen. Off by
        default: on synthetic traffic they made things worse, since a level per day fits
        neither a smooth weekly swing (which the inner baseline follows by itself) nor a
        step at midnight (``tests/benchmarks/seasonal.py --weekly``; figures in
        docs/detectors.md).
    min_factor
        Floor of the shape, so that a near-zero night does not blow up the residual.
    window, min_history, threshold, min_relative_change, min_absolute_change, rebaseline_after
        Settings of the inner :class:`RobustCusum`.

    Examples
    --------
    A request rate of 100 ± 60% over the day, then a drop to 40% of normal on day 3 (on
    the first day, before the shape is learnt, it pages on the cycle as a plain
    :class:`RobustCusum` would; those events are left out here):

    >>> import math
    >>> det = SeasonalCusum()
    >>> events = []
    >>> for k in range(3 * 288):
    ...     ts = 1_790_000_000.0 + 300.0 * k
    ...     value = 100.0 * (1.0 + 0.6 * math.sin(2 * math.pi * ts / 86_400.0))
    ...     value *= 1.0 + 0.03 * math.sin(7.0 * k)  # a little deterministic noise
    ...     if k >= 700:
    ...         value *= 0.4
    ...     event = det.update(ts, value)
    ...     if event and k >= 288:
    ...         onset = round((event.onset - 1_790_000_000.0) / 300.0)
    ...         events.append((event.kind.value, event.direction.value, onset))
    >>> events
    [('shift', 'down', 700)]

    The state is bounded: 24 knots and their weights, the last 20 samples, 7 day factors
    and their weights, the last 7 day means (about 2 KB of JSON), and the inner
    detector's own state (2.6-4.5 KB, its 60-sample windows).
    """

    VERSION = 1

    def __init__(
        self,
        buckets: int = 24,
        period: float = _DAY,
        profile_days: float = 3.0,
        learn_sigmas: float = 3.0,
        glitch_band: float = 0.25,
        learn_evidence: float = 0.3,
        young_visits: float = 3.5,
        weekly: bool = False,
        min_factor: float = 0.05,
        window: int = 60,
        min_history: int = 20,
        threshold: float = 10.0,
        min_relative_change: float = 0.3,
        min_absolute_change: float = 0.0,
        rebaseline_after: int = 60,
    ) -> None:
        if buckets < 2 or period <= 0 or profile_days <= 0 or min_factor <= 0:
            raise ValueError("buckets must be at least 2; period, profile_days and min_factor positive")
        self.buckets = buckets
        self.period = period
        self.profile_days = profile_days
        self.learn_sigmas = learn_sigmas
        self.glitch_band = glitch_band
        self.learn_evidence = learn_evidence
        self.young_visits = young_visits
        self.weekly = weekly
        self.min_factor = min_factor
        self._inner_settings = {
            "window": window, "min_history": min_history, "threshold": threshold,
            "min_relative_change": min_relative_change, "min_absolute_change": min_absolute_change,
            "rebaseline_after": rebaseline_after,
        }
        self._reset()

    def _new_inner(self) -> RobustCusum:
        return RobustCusum(**self._inner_settings)  # type: ignore[arg-type]

    def _reset(self) -> None:
        self._inner = self._new_inner()
        self._last_ts: float | None = None
        # The last samples (compact float arrays: this is per-series memory).
        self._recent_max = max(5, self._inner.min_history)
        self._recent_ts = array("d")
        self._recent_v = array("d")
        self._first_ts: float | None = None
        self._profile = array("d", [0.0]) * self.buckets
        self._weight = array("d", [0.0]) * self.buckets
        self._seasonal_on = False
        self._deferred: dict[str, list[float]] = {}  # knot -> [mass, mass * value] held during a shift
        # Weekly: the current day's running mean of the deseasonalised series, the last
        # seven whole days' means, and the day-of-week factors.
        self._day: int | None = None
        self._day_sum = 0.0
        self._day_n = 0
        self._day_first: float | None = None
        self._day_last: float | None = None
        self._days: deque[tuple[int, float]] = deque(maxlen=_WEEK_DAYS)
        self._week = [1.0] * _WEEK_DAYS
        self._week_weight = [0.0] * _WEEK_DAYS
        self._weekly_on = False

    # -- the expected shape ---------------------------------------------------
    def _knots(self, ts: float) -> tuple[int, int, float]:
        x = (ts % self.period) / self.period * self.buckets - 0.5
        low = math.floor(x)
        return low % self.buckets, (low + 1) % self.buckets, x - low

    def _shape(self, ts: float) -> float:
        """The learnt daily shape at ``ts`` (mean 1 over the day), whether on or not."""
        mean = sum(self._profile) / self.buckets
        if mean <= 0.0:
            return 1.0
        i0, i1, frac = self._knots(ts)
        value = ((1.0 - frac) * self._profile[i0] + frac * self._profile[i1]) / mean
        return max(self.min_factor, value)

    def _week_shape(self, ts: float) -> float:
        """The day-of-week factor at ``ts``, interpolated between noons (mean 1 over the week)."""
        mean = sum(self._week) / _WEEK_DAYS
        if mean <= 0.0:
            return 1.0
        x = ts / _DAY - 0.5
        low = math.floor(x)
        d0 = (low + _EPOCH_DOW) % _WEEK_DAYS
        d1 = (d0 + 1) % _WEEK_DAYS
        value = ((1.0 - (x - low)) * self._week[d0] + (x - low) * self._week[d1]) / mean
        return max(self.min_factor, value)

    def _daily(self, ts: float) -> float:
        return self._shape(ts) if self._seasonal_on else 1.0

    def _factor(self, ts: float) -> float:
        return self._daily(ts) * (self._week_shape(ts) if self._weekly_on else 1.0)

    # -- learning -------------------------------------------------------------
    def _reference(self, ts: float, value: float, residual: float) -> float | None:
        """What ``value`` is learnt relative to, or None if it is not to be learnt.

        Before the shape is on, the profile holds raw values (reference 1) and the gate is
        the median of the last few raw values: a lone glitch is far from it (the inner
        detector sees the raw cycle then and may itself fire on it, so its judgement is no
        gate). Afterwards the profile holds the shape, ``value`` over the inner detector's
        level, so a level shift does not bend the shape. A knot learnt on fewer than
        ``young_visits`` days keeps the glitch gate only, one day being no proof: during a
        shift its samples are held (relative to the pre-shift level) and learnt only if
        the shift recovers, since a young shape that is wrong for a few hours (learnt from
        an incident on the first day) makes a shift that ends when those hours do, while
        a level shift persists (and the profile is normalised: a level is no shape). An
        older knot takes the inner detector's own gate: no shift open, no change building
        up, within ``learn_sigmas`` of its baseline.
        """
        if len(self._recent_v) < 5:
            return None
        last = sorted(self._recent_v[-5:])
        glitch = abs(value - last[2]) > self.glitch_band * abs(last[2])
        if not self._seasonal_on:
            return None if glitch else 1.0
        i0, i1, frac = self._knots(ts)
        knot = i0 if frac < 0.5 else i1
        if self._weight[knot] < 1.0 - math.exp(-self.young_visits / self.profile_days):
            level = self._inner.reference_level
            return None if glitch or level is None or level <= 0.0 else level
        baseline = self._inner.current_baseline()
        if self._inner.evidence > self.learn_evidence:
            return None  # a change may be building up: its samples are no reference
        if baseline is None or baseline[0] <= 0.0:
            return None
        if abs(residual - baseline[0]) > self.learn_sigmas * baseline[1]:
            return None
        return baseline[0]

    def _learn_profile(self, ts: float, dt: float, value: float) -> None:
        bucket_width = self.period / self.buckets
        mass = min(dt, bucket_width) / bucket_width
        i0, i1, frac = self._knots(ts)
        for index, share in ((i0, 1.0 - frac), (i1, frac)):
            if share > 0.0:
                self._learn_knot(index, mass * share, value)

    def _learn_knot(self, index: int, mass: float, value: float) -> None:
        keep = math.exp(-mass / self.profile_days)
        self._weight[index] = keep * self._weight[index] + (1.0 - keep)
        self._profile[index] += (1.0 - keep) / self._weight[index] * (value - self._profile[index])

    def _defer(self, ts: float, dt: float, value: float) -> None:
        """Hold what a young knot would learn during a shift until the shift ends."""
        bucket_width = self.period / self.buckets
        mass = min(dt, bucket_width) / bucket_width
        i0, i1, frac = self._knots(ts)
        for index, share in ((i0, 1.0 - frac), (i1, frac)):
            if share > 0.0:
                held = self._deferred.setdefault(str(index), [0.0, 0.0])
                held[0] += mass * share
                held[1] += mass * share * value

    def _settle_deferred(self, recovered: bool) -> None:
        """A shift ended: learn what it held if it recovered (the young shape was wrong there,
        e.g. learnt from an incident on the first day), forget it if it persisted (a level shift)."""
        if recovered:
            for index, (mass, total) in sorted(self._deferred.items(), key=lambda kv: int(kv[0])):
                if mass > 0.0:
                    self._learn_knot(int(index), mass, total / mass)
        self._deferred = {}

    def _learn_week(self, ts: float, residual: float) -> None:
        day = math.floor(ts / _DAY)
        if self._day is not None and day != self._day:
            self._close_day()
        if self._day != day:
            self._day, self._day_sum, self._day_n, self._day_first = day, 0.0, 0, ts
        self._day_sum += residual
        self._day_n += 1
        self._day_last = ts

    def _close_day(self) -> None:
        assert self._day is not None and self._day_first is not None and self._day_last is not None
        if self._day_n > 0 and self._day_last - self._day_first >= 0.75 * _DAY:
            self._days.append(((self._day + _EPOCH_DOW) % _WEEK_DAYS, self._day_sum / self._day_n))
        if len(self._days) < _WEEK_DAYS or len({d for d, _ in self._days}) < _WEEK_DAYS:
            return
        overall = sum(m for _, m in self._days) / _WEEK_DAYS
        if overall <= 0.0:
            return
        # The first full week sets every day's factor; later days update their own.
        latest = list(self._days) if not any(self._week_weight) else [self._days[-1]]
        for dow, mean in latest:
            keep = 0.5 if self._week_weight[dow] > 0.0 else 0.0
            self._week_weight[dow] = keep * self._week_weight[dow] + (1.0 - keep)
            self._week[dow] += (1.0 - keep) / self._week_weight[dow] * (mean / overall - self._week[dow])

    def _maybe_switch(self, ts: float) -> None:
        """Turn on the daily shape, then the weekly factors, once learnt.

        The inner detector then restarts, warmed up at once on the last ``min_history``
        samples divided by the new factors, so there is no blind spell. A shift it held
        (open, or absorbed and waiting for its way back) was judged without the factor
        (on the first day, most likely the cycle itself) and is closed silently, without
        a RECOVERY.
        """
        assert self._first_ts is not None
        if not self._seasonal_on:
            half_visit = 1.0 - math.exp(-0.5 / self.profile_days)
            if ts - self._first_ts < self.period or min(self._weight) < half_visit:
                return
            self._seasonal_on = True
            mean = sum(self._profile) / self.buckets
            if mean > 0.0:  # from raw values to the shape (mean 1)
                self._profile = array("d", (p / mean for p in self._profile))
        elif self.weekly and not self._weekly_on and all(w > 0.0 for w in self._week_weight):
            self._weekly_on = True
        else:
            return
        self._inner = self._new_inner()
        for t, v in zip(self._recent_ts, self._recent_v, strict=True):
            self._inner.update(t, v / self._factor(t))

    # -- update ---------------------------------------------------------------
    def update(self, ts: float, value: float) -> Detection | None:
        """Consume one sample; return a shift or recovery if this sample decides one."""
        if not math.isfinite(value):
            return None
        if self._last_ts is not None and ts <= self._last_ts:
            return None
        dt = 0.0 if self._last_ts is None else ts - self._last_ts
        self._last_ts = ts
        if self._first_ts is None:
            self._first_ts = ts
        self._maybe_switch(ts)
        factor = self._factor(ts)
        residual = value / factor
        reference = self._reference(ts, value, residual)
        if len(self._recent_v) == self._recent_max:
            del self._recent_ts[0], self._recent_v[0]
        self._recent_ts.append(ts)
        self._recent_v.append(value)
        in_shift = self._inner.in_shift
        event = self._inner.update(ts, residual)
        if reference is not None and in_shift and self._seasonal_on:
            self._defer(ts, dt, value / reference)
        elif reference is not None:
            self._learn_profile(ts, dt, value / reference)
            if self.weekly:
                self._learn_week(ts, value / self._daily(ts))
        if in_shift and not self._inner.in_shift:
            self._settle_deferred(event is not None and event.kind is EventKind.RECOVERY)
        if event is None:
            return None
        return replace(event, before=event.before * factor, after=event.after * factor)

    # -- state ----------------------------------------------------------------
    def state_dict(self) -> State:
        return {
            "version": self.VERSION,
            "inner": self._inner.state_dict(),
            "last_ts": self._last_ts,
            "recent": [[t, v] for t, v in zip(self._recent_ts, self._recent_v, strict=True)],
            "first_ts": self._first_ts,
            "profile": list(self._profile),
            "weight": list(self._weight),
            "seasonal_on": self._seasonal_on,
            "deferred": {k: list(v) for k, v in self._deferred.items()},
            "day": [self._day, self._day_sum, self._day_n, self._day_first, self._day_last],
            "days": [list(d) for d in self._days],
            "week": list(self._week),
            "week_weight": list(self._week_weight),
            "weekly_on": self._weekly_on,
        }

    def load_state(self, state: State) -> None:
        """Restore a state of :meth:`state_dict`, or a :class:`RobustCusum` state (a checkpoint
        from before the series was seasonal: it carries on, and the shape is learnt from now)."""
        if "inner" not in state and "history" in state:
            self._reset()
            self._inner.load_state(state)
            self._last_ts = self._first_ts = self._inner.state_dict()["last_ts"]
            return
        if state.get("version") != self.VERSION:
            raise ValueError(f"SeasonalCusum state version {state.get('version')!r}, expected {self.VERSION}")
        if len(state["profile"]) != self.buckets or len(state["weight"]) != self.buckets:
            raise ValueError(
                f"SeasonalCusum state has {len(state['profile'])} profile buckets, expected {self.buckets}")
        self._reset()
        self._inner.load_state(state["inner"])
        self._last_ts = state["last_ts"]
        recent = state["recent"][-self._recent_max:]
        self._recent_ts = array("d", (float(t) for t, _ in recent))
        self._recent_v = array("d", (float(v) for _, v in recent))
        self._first_ts = state["first_ts"]
        self._profile = array("d", (float(v) for v in state["profile"]))
        self._weight = array("d", (float(v) for v in state["weight"]))
        self._seasonal_on = bool(state["seasonal_on"])
        self._deferred = {str(k): [float(m), float(t)] for k, (m, t) in state["deferred"].items()}
        day, day_sum, day_n, day_first, day_last = state["day"]
        self._day, self._day_sum, self._day_n = day, float(day_sum), int(day_n)
        self._day_first, self._day_last = day_first, day_last
        self._days.extend((int(d), float(m)) for d, m in state["days"])
        self._week = [float(v) for v in state["week"]]
        self._week_weight = [float(v) for v in state["week_weight"]]
        self._weekly_on = bool(state["weekly_on"])
