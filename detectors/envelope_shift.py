"""Level shifts judged against the series' own history: a shift is a level the series has not sustained before."""

from __future__ import annotations

import math
from array import array
from itertools import pairwise
from typing import Any

from .recovery import significant
from .types import Detection, Direction, EventKind, State

__all__ = ["EnvelopeShift"]


def _push(values: array[float], value: float, keep: int) -> None:
    """Append, keeping the last ``keep`` values."""
    values.append(value)
    if len(values) > keep:
        del values[0]


def _median(values: list[float]) -> float:
    s = sorted(values)
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2


class EnvelopeShift:
    """Online level-shift detector whose false-shift rate is bounded by the series' own history.

    Real series are not Gaussian: a p99 jumps between histogram bucket bounds, a ratio of a
    few requests is quantised, a load generator bursts. Instead of a z-score, each series keeps
    an *envelope*: for each run length ``k`` in ``runs``, the highest level it sustained for
    ``k`` consecutive samples (and the lowest), over the last ``blocks * block`` samples. A shift
    is a run of ``k`` fresh samples all beyond that envelope by ``margin`` times the series'
    largest excursion: a level this series has not sustained in its recent history. What the
    series does many times a day (0.49 s ↔ 0.98 s between two buckets) is inside its envelope
    and never a shift; a twentyfold jump clears the envelope by a full excursion and is
    confirmed on its second sample (``fast_margin``); a moderate one needs ``runs[1:]`` samples.

    A slow creep (a leak, a queue growing over an hour) stays inside a short-run envelope that
    keeps learning it. It is found one scale up: the medians of whole blocks, the last
    ``creep_blocks`` of them all above every block median older than twice that, after
    ``2 * creep_blocks`` blocks that never went down (a series that flaps does not climb). Its onset is
    the start of the first block that left the old range, so ranking can reach back to the
    change that started it.

    After a shift the detector holds the pre-shift level and reports a recovery once
    ``recovery_points`` consecutive samples are back within the old envelope. A shift that
    persists for ``rebaseline_after`` samples becomes the new normal: the envelope and
    baseline are rebuilt from it, still ready to report the way back.

    Every shift must also be significant against the baseline median (``min_relative_change``,
    ``min_absolute_change``); whether it is worth a page is the incident policy's call.

    Parameters
    ----------
    window
        Samples of the baseline median (the ``before`` level).
    min_history
        Samples in the history before anything is reported.
    runs
        Run lengths judged against the envelope; the first is the fast path.
    margin
        How far beyond the envelope a run must be, in units of the largest excursion.
    fast_margin
        The same for the fast (shortest) run.
    fast_ratio
        The fast run must also be this many times the baseline level (or this fraction of it).
    block
        Samples per envelope block.
    blocks
        Blocks kept: the envelope covers ``block * blocks`` samples.
    creep_blocks
        Consecutive block medians above the older range that make a creep.
    min_relative_change
        Smallest ``|after - before| / |before|`` worth reporting.
    min_absolute_change
        Smallest ``|after - before|`` worth reporting.
    relative_floor
        The excursion scale is at least this fraction of the baseline level.
    absolute_floor
        The excursion scale is at least this much.
    recovery_points
        Consecutive samples back within the old envelope that make a recovery.
    rebaseline_after
        Samples after which a persisting shift becomes the new normal.
    run_alpha
        A run must also be rarer than this if samples were independent draws from the baseline
        window (``p ** k``; see :meth:`_rare`).
    learn_after
        A shift that recovers after this many others recovered within the envelope's reach becomes
        part of the history (the series does this): its level no longer counts as a shift.
    weak_evidence
        Also report, as an ``EVIDENCE`` event with confidence ``WEAK_CONFIDENCE``, a run of the
        shortest length beyond the 2-run envelope but short of the margin: where a fault may sit
        (it never pages alone); a SHIFT follows from the same onset if it grows into one.

    Examples
    --------
    A series flapping between two bucket bounds is not shifting; a tenfold jump is, on its second sample:

    >>> det = EnvelopeShift()
    >>> events = []
    >>> for t in range(400):
    ...     value = 0.98 if t % 17 in (0, 1, 2, 3) else 0.49
    ...     value = 9.8 if 300 <= t < 303 else value
    ...     event = det.update(60.0 * t, value)
    ...     if event:
    ...         events.append((event.kind.value, event.onset / 60, event.detected_at / 60))
    >>> events
    [('shift', 300.0, 301.0), ('recovery', 300.0, 305.0)]
    """

    VERSION = 1
    _LEVEL_EVERY = 5
    CREEP_CONFIDENCE = 0.6
    """The confidence of a creep: sure of the direction, less of the onset."""
    WEAK_CONFIDENCE = 0.3
    """The confidence of evidence (a level beyond the 2-run envelope, short of the margin)."""

    def __init__(
        self,
        window: int = 60,
        min_history: int = 30,
        runs: tuple[int, ...] = (2, 3, 5),
        margin: float = 0.5,
        fast_margin: float = 1.0,
        fast_ratio: float = 10.0,
        block: int = 30,
        blocks: int = 24,
        creep_blocks: int = 2,
        min_relative_change: float = 0.3,
        min_absolute_change: float = 0.0,
        relative_floor: float = 0.05,
        absolute_floor: float = 1e-9,
        recovery_points: int = 3,
        rebaseline_after: int = 60,
        weak_evidence: bool = True,
        run_alpha: float = 1e-3,
        learn_after: int = 2,
    ) -> None:
        if not runs or sorted(runs) != list(runs) or runs[0] < 2:
            raise ValueError("runs must be increasing run lengths of at least 2")
        self.window = window
        self.min_history = min_history
        self.runs = tuple(runs)
        self.margin = margin
        self.fast_margin = fast_margin
        self.fast_ratio = fast_ratio
        self.block = block
        self.blocks = blocks
        self.creep_blocks = creep_blocks
        self.min_relative_change = min_relative_change
        self.min_absolute_change = min_absolute_change
        self.relative_floor = relative_floor
        self.absolute_floor = absolute_floor
        self.recovery_points = recovery_points
        self.rebaseline_after = rebaseline_after
        self.weak_evidence = weak_evidence
        self.run_alpha = run_alpha
        self.learn_after = learn_after
        self._lag = max(self.runs)
        self._lengths = (1,) + self.runs
        self._reset()

    def _reset(self) -> None:
        n = len(self.runs) + 1  # run length 1 (the single-sample extremes) comes first
        # Plain lists and arrays of doubles, not deques: a deque costs some 600 bytes empty, and a
        # replica holds these for a hundred thousand series.
        self._fresh: list[tuple[float, float]] = []             # newest samples, not yet history
        self._history = array("d")                               # for the baseline median (``window``)
        self._matured = array("d")                               # the last matured values (runs)
        self._count = 0                                          # matured samples since a reset
        # Per run length: the current block's extremes, then the completed blocks'.
        self._blk_hi: list[float] = [-math.inf] * n
        self._blk_lo: list[float] = [math.inf] * n
        self._hi = [array("d") for _ in range(n)]  # completed blocks' extremes, the last ``blocks``
        self._lo = [array("d") for _ in range(n)]
        self._hi_done: list[float] = [-math.inf] * n  # the completed blocks' extremes (cached)
        self._lo_done: list[float] = [math.inf] * n
        self._blk_n = 0
        self._blk_vals = array("d")
        self._blk_start: float | None = None
        self._bstart = array("d")  # each completed block's start and median (the creep's scale)
        self._bmed = array("d")
        self._env: tuple[list[float], list[float], float, float] | None = None  # memo
        self._level_memo: float | None = None
        self._level_at = 0
        self._last_ts: float | None = None
        self._active: dict[str, Any] | None = None
        self._pending: dict[str, Any] | None = None
        self._recoveries: list[int] = []  # when recent shifts recovered (in matured samples)

    # -- history -----------------------------------------------------------------
    def _mature(self, ts: float, value: float, *, level: bool = True) -> bool:
        """Take a value into the history; True when it closed a block. With ``level`` False (a
        recovered shift's samples) it widens the envelope but not the block medians a creep is
        measured by, nor the baseline median."""
        if level:
            _push(self._history, value, self.window)
        _push(self._matured, value, self._lag)
        self._count += 1
        # The levels sustained by the runs ending here, longest run last: one pass back in time.
        lo_run = hi_run = value
        back = len(self._matured)
        i = 0
        for j, v in enumerate(reversed(self._matured), start=1):
            if v < lo_run:
                lo_run = v
            elif v > hi_run:
                hi_run = v
            if j == self._lengths[i]:
                # (plain comparisons, not max/min: this runs for every sample of every series)
                if lo_run > self._blk_hi[i]:
                    self._blk_hi[i] = lo_run     # highest level sustained j samples
                if hi_run < self._blk_lo[i]:
                    self._blk_lo[i] = hi_run     # lowest level sustained j samples
                i += 1
                if i == len(self._lengths) or self._lengths[i] > back:
                    break
        if self._blk_start is None:
            self._blk_start = ts
        if level:
            self._blk_vals.append(value)
        self._blk_n += 1
        if self._blk_n >= self.block:
            for i in range(len(self._blk_hi)):
                if self._blk_hi[i] > -math.inf:
                    _push(self._hi[i], self._blk_hi[i], self.blocks)
                    _push(self._lo[i], self._blk_lo[i], self.blocks)
                self._blk_hi[i], self._blk_lo[i] = -math.inf, math.inf
            self._cache_blocks()
            _push(self._bstart, self._blk_start, self.blocks)
            _push(self._bmed, _median(list(self._blk_vals)) if self._blk_vals else self._level(), self.blocks)
            self._blk_n, self._blk_vals, self._blk_start = 0, array("d"), None
            self._env = None
            return True
        self._env = None
        return False

    def _cache_blocks(self) -> None:
        self._hi_done = [max(h, default=-math.inf) for h in self._hi]
        self._lo_done = [min(q, default=math.inf) for q in self._lo]

    def _inner_bounds(self) -> tuple[float, float]:
        """The longest run's envelope (the narrowest), cheaply: a sample inside it can end no run."""
        return (max(self._hi_done[-1], self._blk_hi[-1]), min(self._lo_done[-1], self._blk_lo[-1]))

    def _level(self) -> float:
        """The baseline median, recomputed every ``_LEVEL_EVERY`` matured samples (it moves slowly)."""
        if self._level_memo is None or self._count - self._level_at >= self._LEVEL_EVERY:
            self._level_memo = _median(list(self._history))
            self._level_at = self._count
        return self._level_memo

    def _envelope(self) -> tuple[list[float], list[float], float, float]:
        """Per run length (1 first): highest and lowest sustained levels; baseline median; excursion."""
        if self._env is None:
            hi = [max(d, b) for d, b in zip(self._hi_done, self._blk_hi, strict=True)]
            lo = [min(d, b) for d, b in zip(self._lo_done, self._blk_lo, strict=True)]
            level = self._level()
            floor = max(self.relative_floor * abs(level), self.absolute_floor)
            # The largest single-sample excursion in the history (the scale of every margin).
            excursion = max(hi[0] - level, level - lo[0], floor)
            self._env = (hi, lo, level, excursion)
        return self._env

    def _significant(self, before: float, after: float) -> bool:
        return significant(before, after, min_absolute=self.min_absolute_change,
                           min_relative=self.min_relative_change, floor=self.absolute_floor)

    # -- update ---------------------------------------------------------------------
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
            if self._back(self._pending, value):
                # On the way back to the level before an absorbed shift: not a shift of its own.
                self._pending["back"] += 1
                if self._pending["back"] >= self.recovery_points:
                    pend, self._pending = self._pending, None
                    self._reset_history()  # the absorbed level's history no longer applies
                    return self._recovery(pend, ts)
                return None
            self._pending["back"] = 0
        self._fresh.append((ts, value))
        closed = False
        if len(self._fresh) > self._lag:
            old_ts, old = self._fresh.pop(0)
            closed = self._mature(old_ts, old)
        if self._count < self.min_history:
            return None
        found = self._check_runs(ts)
        if found is None and closed:
            found = self._check_creep(ts)
        return found

    def _check_runs(self, ts: float) -> Detection | None:
        fresh = self._fresh
        newest = fresh[-1][1]
        top, bottom = self._inner_bounds()
        if bottom <= newest <= top:
            return None  # inside every run's envelope: no run ends here
        hi, lo, level, exc = self._envelope()
        m = self.margin * exc
        up_gate, down_gate = hi[-1] + m, lo[-1] - m
        if self.weak_evidence:
            up_gate, down_gate = min(up_gate, hi[1]), max(down_gate, lo[1])
        if down_gate <= newest <= up_gate:
            return None  # short of every run's threshold
        found = self._strong_run([v for _, v in fresh], hi, lo, exc, level)
        if found is not None:
            direction, k, bound, clearance = found
            return self._open_run(ts, direction, k, bound, level, exc, clearance)
        k = self.runs[0]
        run = [v for _, v in fresh][-k:]
        if self.weak_evidence and len(run) == k and (min(run) > hi[1] or max(run) < lo[1]):
            # Beyond every 2-run this series had, though not by the margin: evidence of where a
            # fault sits (reported with low confidence, which never pages alone).
            direction = Direction.UP if min(run) > hi[1] else Direction.DOWN
            return self._open_run(ts, direction, k, hi[1] if direction is Direction.UP else lo[1], level, exc,
                                  None)
        return None

    def _fresh_values(self) -> list[float]:
        return [v for _, v in self._fresh]

    def _strong_run(self, values: list[float], hi: list[float], lo: list[float], exc: float,
                    level: float | None = None) -> tuple[Direction, int, float, float] | None:
        """The shortest run of the newest ``values`` beyond the envelope by its margin, if any."""
        for i, k in enumerate(self.runs, start=1):
            if len(values) < k:
                break
            m = self.fast_margin if i == 1 else self.margin
            run = values[-k:]
            up_thr = (hi[0] if i == 1 else hi[i]) + m * exc
            down_thr = (lo[0] if i == 1 else lo[i]) - m * exc
            if i == 1 and level is not None:
                # The fast path is for the unambiguous: also ``fast_ratio`` times the level (or a
                # fraction of it), so two glitches in a row cannot page.
                up_thr = max(up_thr, self.fast_ratio * level) if level > 0 else up_thr
                down_thr = min(down_thr, level / self.fast_ratio) if level > 0 else down_thr
            if min(run) > up_thr:
                return Direction.UP, k, hi[i], min(run) - up_thr
            if max(run) < down_thr:
                return Direction.DOWN, k, lo[i], down_thr - max(run)
        return None

    def _rare(self, run: list[float], direction: Direction) -> bool:
        """Would a run this far out be rare even if samples were independent draws from the history?

        The envelope says the series has not sustained this level; this says that is not just the
        luck of a short history: with ``p`` the share of baseline samples at least as far out
        (with a half-sample prior), a run of ``k`` has chance ``p ** k``, which must be below
        ``run_alpha``. A p99 that sits on the next bucket one sample in seven is not shifting when
        it does so three times in a row.
        """
        hist = self._history
        if direction is Direction.UP:
            edge = min(run)
            hits = sum(1 for v in hist if v >= edge)
        else:
            edge = max(run)
            hits = sum(1 for v in hist if v <= edge)
        p = (hits + 0.5) / (len(hist) + 1.0)
        return p ** len(run) <= self.run_alpha

    def _open_run(self, ts: float, direction: Direction, k: int, bound: float, level: float,
                  exc: float, clearance: float | None) -> Detection | None:
        if not self._rare(list(self._fresh_values()[-k:]), direction):
            return None
        fresh = list(self._fresh)
        sign = 1.0 if direction is Direction.UP else -1.0
        start = len(fresh) - k
        hi, lo, _, _ = self._envelope()
        edge = max(bound, hi[0]) if sign > 0 else min(bound, lo[0])  # beyond any single normal sample
        while start > 0 and sign * (fresh[start - 1][1] - edge) > 0:
            start -= 1  # the run began earlier, just less far out
        tail = [v for _, v in fresh[-k:]]
        sustained = min(tail) if direction is Direction.UP else max(tail)  # a glitch in the run cannot count
        if not self._significant(level, sustained):
            return None
        after = _median(tail)
        run = [v for _, v in fresh[start:]]
        if clearance is None:
            return self._open(ts, fresh[start][0], direction, level, after, self.WEAK_CONFIDENCE, run, weak=True)
        confidence = 1.0 - 0.5 * math.exp(-clearance / exc)
        return self._open(ts, fresh[start][0], direction, level, after, confidence, run)

    def _check_creep(self, ts: float) -> Detection | None:
        meds = list(zip(self._bstart, self._bmed, strict=True))
        c = self.creep_blocks
        if len(meds) < 3 * c:
            return None
        ref = [m for _, m in meds[:-2 * c]]
        recent = [m for _, m in meds[-c:]]
        top, bottom = max(ref), min(ref)
        gap = self.margin * max(top - bottom, self.relative_floor * abs(_median(ref)), self.absolute_floor)
        before = _median(ref)
        climb = [m for _, m in meds[-2 * c:]]  # a creep climbs: block after block, never back
        rising = all(b >= a for a, b in pairwise(climb))
        falling = all(b <= a for a, b in pairwise(climb))
        for direction, beyond in ((Direction.UP, rising and min(recent) > top + gap),
                                  (Direction.DOWN, falling and max(recent) < bottom - gap)):
            if not beyond or not self._significant(before, recent[-1]):
                continue
            edge = top if direction is Direction.UP else bottom
            sign = 1.0 if direction is Direction.UP else -1.0
            onset = meds[-1][0]
            for start, m in reversed(meds[len(ref):]):
                if sign * (m - edge) <= 0:
                    break
                onset = start  # the first block of the unbroken stretch beyond the old range
            return self._open(ts, onset, direction, before, recent[-1], self.CREEP_CONFIDENCE, [])
        return None

    def _open(self, ts: float, onset: float, direction: Direction, before: float, after: float,
              confidence: float, values: list[float], weak: bool = False) -> Detection:
        self._pending = None
        self._active = {"onset": onset, "direction": direction.value, "before": before, "after": after,
                        "bound": self._way_back(direction, before, after), "back": 0, "count": 0,
                        "values": list(values), "weak": weak}
        kind = EventKind.EVIDENCE if weak else EventKind.SHIFT
        return Detection(kind, onset, ts, direction, before, after, max(0.0, min(1.0, confidence)))

    def _way_back(self, direction: Direction, before: float, after: float) -> float:
        """The level a sample must be back to (below for a rise): inside the series' normal range
        (its single-sample envelope), never further than half way back."""
        hi, lo, level, _ = self._envelope()
        up = direction is Direction.UP
        bound = max(hi[-1] + self.margin * (hi[-1] - level), hi[0]) if up else min(
            lo[-1] - self.margin * (level - lo[-1]), lo[0])
        slack = 0.5 * self.min_absolute_change
        bound = max(bound, before + slack) if up else min(bound, before - slack)
        half = (before + after) / 2.0
        return min(bound, half) if up else max(bound, half)

    def _back(self, act: dict[str, Any], value: float) -> bool:
        return bool(value <= act["bound"] if act["direction"] == Direction.UP.value else value >= act["bound"])

    def _recovery(self, act: dict[str, Any], ts: float) -> Detection:
        return Detection(EventKind.RECOVERY, act["onset"], ts, Direction(act["direction"]),
                         act["after"], act["before"], 1.0)

    def _update_active(self, ts: float, value: float) -> Detection | None:
        act = self._active
        assert act is not None
        act["count"] += 1
        act["values"] = (act["values"] + [value])[-self.window:]
        act["back"] = act["back"] + 1 if self._back(act, value) else 0
        if act.get("weak") and act["back"] == 0:
            hi, lo, _, exc = self._envelope()
            found = self._strong_run(act["values"][-max(self.runs):], hi, lo, exc, act["before"])
            if (found is not None and found[0].value == act["direction"]
                    and self._rare(act["values"][-found[1]:], found[0])):
                # The evidence grew into a shift: report it, confident, from the same onset.
                act["weak"] = False
                act["after"] = _median(act["values"][-found[1]:])
                confidence = 1.0 - 0.5 * math.exp(-found[3] / exc)
                return Detection(EventKind.SHIFT, act["onset"], ts, Direction(act["direction"]), act["before"],
                                 act["after"], confidence)
        grown = self._grown(act)
        if grown is not None:
            return grown
        if act["back"] >= self.recovery_points:
            self._active = None
            # Over. A shift the series has made and come back from ``learn_after`` times already
            # within the envelope's reach becomes history: what a series does again and again (a p99
            # that spends minutes on the next bucket many times a day) is its normal, and left out
            # each such excursion would be judged against a history that never saw one, and page.
            # The first ones stay out: an outage that comes back is still found.
            self._fresh.clear()
            horizon = self._count - self.blocks * self.block
            self._recoveries = [c for c in self._recoveries if c > horizon]
            if len(self._recoveries) >= self.learn_after:
                for v in act["values"]:
                    self._mature(act["onset"], v, level=False)
            self._recoveries.append(self._count)
            return self._recovery(act, ts)
        if act["back"] == 0 and act["count"] >= self.rebaseline_after:
            # The shift persisted: it is the new normal. Learn it afresh, still ready to
            # report the way back.
            values = act["values"]
            self._reset_history()
            for v in values:
                self._mature(ts, v)
            self._pending = act
            self._active = None
        return None

    def _grown(self, act: dict[str, Any]) -> Detection | None:
        """An open shift that has at least doubled its distance from the level before (a creep that
        keeps going, an outage getting worse) is reported again, from the same onset, with its new
        level: what was too small to page when first found may not be now."""
        k = self.runs[-1]
        if act["back"] or len(act["values"]) < k:
            return None
        level = _median(act["values"][-k:])
        sign = 1.0 if act["direction"] == Direction.UP.value else -1.0
        if sign * (level - act["before"]) < 2.0 * sign * (act["after"] - act["before"]):
            return None
        act["after"] = level
        if act.get("weak"):
            return Detection(EventKind.EVIDENCE, act["onset"], self._last_ts or 0.0, Direction(act["direction"]),
                             act["before"], level, self.WEAK_CONFIDENCE)
        return Detection(EventKind.SHIFT, act["onset"], self._last_ts or 0.0, Direction(act["direction"]),
                         act["before"], level, 1.0)

    def _reset_history(self) -> None:
        active, pending, last_ts = self._active, self._pending, self._last_ts
        self._reset()
        self._active, self._pending, self._last_ts = active, pending, last_ts

    # -- state ------------------------------------------------------------------------
    def state_dict(self) -> State:
        return {
            "version": self.VERSION,
            "fresh": [list(p) for p in self._fresh],
            "history": list(self._history),
            "matured": list(self._matured),
            "count": self._count,
            "blk_hi": [v if math.isfinite(v) else None for v in self._blk_hi],  # JSON has no infinity
            "blk_lo": [v if math.isfinite(v) else None for v in self._blk_lo],
            "hi": [list(h) for h in self._hi],
            "lo": [list(q) for q in self._lo],
            "blk_n": self._blk_n,
            "blk_vals": list(self._blk_vals),
            "blk_start": self._blk_start,
            "bmed": [[t, m] for t, m in zip(self._bstart, self._bmed, strict=True)],
            "last_ts": self._last_ts,
            "level": [self._level_memo, self._level_at],
            "recoveries": list(self._recoveries),
            "active": dict(self._active) if self._active else None,
            "pending": dict(self._pending) if self._pending else None,
        }

    def load_state(self, state: State) -> None:
        if state.get("version") != self.VERSION:
            raise ValueError(f"EnvelopeShift state version {state.get('version')!r}, expected {self.VERSION}")
        n = len(self.runs) + 1
        if len(state["hi"]) != n or len(state["blk_hi"]) != n:
            raise ValueError("EnvelopeShift state was saved with other run lengths")
        self._reset()
        self._fresh.extend((float(t), float(v)) for t, v in state["fresh"])
        self._history.extend(float(v) for v in state["history"][-self.window:])
        self._matured.extend(float(v) for v in state["matured"][-self._lag:])
        self._count = int(state["count"])
        self._blk_hi = [-math.inf if v is None else float(v) for v in state["blk_hi"]]
        self._blk_lo = [math.inf if v is None else float(v) for v in state["blk_lo"]]
        for dst, src in zip(self._hi + self._lo, state["hi"] + state["lo"], strict=True):
            dst.extend(float(v) for v in src)
        self._blk_n = int(state["blk_n"])
        self._blk_vals = array("d", (float(v) for v in state["blk_vals"]))
        self._blk_start = state["blk_start"]
        for t, m in state["bmed"][-self.blocks:]:
            self._bstart.append(float(t))
            self._bmed.append(float(m))
        self._cache_blocks()
        self._last_ts = state["last_ts"]
        memo, at = state.get("level") or (None, 0)
        self._level_memo, self._level_at = (None if memo is None else float(memo)), int(at)
        self._recoveries = [int(c) for c in state.get("recoveries", [])]
        self._active = dict(state["active"]) if state["active"] else None
        self._pending = dict(state["pending"]) if state["pending"] else None
