"""river's ADWIN behind the Detector protocol, its window kept as explicit JSON."""

from __future__ import annotations

import math
import struct
from collections import deque
from typing import Any

import numpy as np

from .recovery import near_before, significant
from .types import Detection, Direction, EventKind, State

__all__ = ["Adwin", "window_from_json", "window_to_json"]

_MAD_TO_SIGMA = 1.4826
# The layout of river's Rust ``AdaptiveWindowing`` (rust_src/adwin.rs) as serde/bincode
# writes it: little-endian, fixed-width integers, usize as u64, a Vec as its u64 length
# then its items; the Python wrapper appends its constructor arguments. Read and written
# field by field here; bytes are only ever built from checked JSON fields.
_HEAD = struct.Struct("<diQdddddd4iQ")
# then the Python wrapper's constructor arguments: delta, clock, max_buckets, min_window_length, grace_period.
_TAIL = struct.Struct("<diQii")
_U64 = struct.Struct("<Q")
_HEAD_FIELDS = ("delta", "clock", "max_buckets", "min_window_length", "grace_period", "total",
                "variance", "width", "total_width", "n_buckets", "max_n_buckets", "tick", "n_detections")
_MAX_LEVELS = 64


def _adaptive_windowing() -> Any:
    from river._river_rust.drift import AdaptiveWindowing  # river >= 0.23: the Rust port

    return AdaptiveWindowing


def window_to_json(window: Any) -> dict[str, Any]:
    """The fields of a river ``AdaptiveWindowing`` as plain JSON values.

    Examples
    --------
    >>> window = _adaptive_windowing()(delta=0.002, clock=1, max_buckets=5,
    ...                                min_window_length=5, grace_period=10)
    >>> for x in (1.0, 2.0, 3.0):
    ...     _ = window.update(x)
    >>> state = window_to_json(window)
    >>> state["width"], state["total"], state["buckets"][0]["totals"][:3]
    (3.0, 6.0, [1.0, 2.0, 3.0])
    >>> window_from_json(state).__getstate__() == window.__getstate__()
    True
    """
    raw = window.__getstate__()
    head = _HEAD.unpack_from(raw, 0)
    out: dict[str, Any] = dict(zip(_HEAD_FIELDS, head[:-1]))
    offset = _HEAD.size
    buckets = []
    for _ in range(head[-1]):
        max_size, current = struct.unpack_from("<QQ", raw, offset)
        offset += 16
        arrays = []
        for _ in range(2):
            (length,) = _U64.unpack_from(raw, offset)
            offset += 8
            arrays.append(list(struct.unpack_from(f"<{length}d", raw, offset)))
            offset += 8 * length
        buckets.append({"max_size": max_size, "current": current,
                        "totals": arrays[0], "variances": arrays[1]})
    if offset + _TAIL.size != len(raw) or _TAIL.unpack_from(raw, offset) != (
            head[0], head[1], head[2], int(head[3]), int(head[4])):
        raise RuntimeError(
            "river's AdaptiveWindowing layout is not the one this adapter reads (rust_src/adwin.rs)")
    out["buckets"] = buckets
    return out


def _number(state: dict[str, Any], key: str, kind: type) -> Any:
    value = state.get(key)
    if kind is int and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise ValueError(f"ADWIN window {key}: expected a non-negative integer, got {value!r}")
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is float and (not number or not math.isfinite(value)):  # type: ignore[arg-type]
        raise ValueError(f"ADWIN window {key}: expected a finite number, got {value!r}")
    return kind(value)


def window_from_json(state: dict[str, Any]) -> Any:
    """Rebuild a river ``AdaptiveWindowing`` from :func:`window_to_json`, checking every field."""
    floats = {"delta", "min_window_length", "grace_period", "total", "variance", "width", "total_width"}
    head = [_number(state, key, float if key in floats else int) for key in _HEAD_FIELDS]
    max_buckets = head[2]
    buckets = state.get("buckets")
    if not isinstance(buckets, list) or not 1 <= len(buckets) <= _MAX_LEVELS:
        raise ValueError(f"ADWIN window buckets: expected 1 to {_MAX_LEVELS} levels")
    parts = [_HEAD.pack(*head, len(buckets))]
    for level, bucket in enumerate(buckets):
        if not isinstance(bucket, dict):
            raise ValueError(f"ADWIN window buckets[{level}]: expected an object")
        size, current = _number(bucket, "max_size", int), _number(bucket, "current", int)
        if size != max_buckets or current > max_buckets + 1:
            raise ValueError(f"ADWIN window buckets[{level}]: max_size/current out of range")
        parts.append(struct.pack("<QQ", size, current))
        for key in ("totals", "variances"):
            values = bucket.get(key)
            if (not isinstance(values, list) or len(values) != max_buckets + 1
                    or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)):
                raise ValueError(
                    f"ADWIN window buckets[{level}].{key}: expected {max_buckets + 1} finite numbers")
            parts.append(_U64.pack(len(values)) + struct.pack(f"<{len(values)}d", *values))
    parts.append(_TAIL.pack(head[0], head[1], max_buckets, int(head[3]), int(head[4])))
    window = _adaptive_windowing()(delta=head[0], clock=head[1], max_buckets=max_buckets,
                                   min_window_length=int(head[3]), grace_period=int(head[4]))
    window.__setstate__(b"".join(parts))
    return window


class Adwin:
    """river's ADWIN (adaptive windowing) as a level-shift :class:`Detector`.

    The first ``min_history`` samples fix a robust scale (median, MAD floored at
    ``relative_floor`` of the level); ADWIN then watches the clipped z-scores, checking
    every sample (``clock=1``). ADWIN only says that the mean of its window changed; the
    rest is ours: the onset is the best split of the last ``window`` samples (the one
    that maximises the two-sample z of their means), ``before`` the scale's level and
    ``after`` the median from the onset on, and a change smaller than
    ``min_relative_change``/``min_absolute_change``
    is no page (ADWIN's window is cut all the same). After a SHIFT: a RECOVERY after
    ``recovery_points`` samples back near the old level, or, after ``rebaseline_after``
    samples away, the new level becomes normal (a new scale and a fresh ADWIN).

    State is JSON: ADWIN's exponential buckets are read out of river's Rust object field
    by field (:func:`window_to_json`) and written back only after every field is checked.

    Parameters
    ----------
    delta
        ADWIN's confidence: smaller is fewer, later detections.
    min_history, window, clip, min_relative_change, min_absolute_change,
    relative_floor, absolute_floor, recovery_points, rebaseline_after
        As in :class:`RobustCusum`.

    Examples
    --------
    >>> det = Adwin()
    >>> events = []
    >>> for t in range(200):
    ...     value = 10.0 + (0.5 if t % 2 else -0.5) + (20.0 if 100 <= t < 140 else 0.0)
    ...     event = det.update(float(t), value)
    ...     if event:
    ...         events.append((event.kind.value, event.onset))
    >>> events
    [('shift', 100.0), ('recovery', 100.0)]
    """

    VERSION = 1

    def __init__(
        self,
        delta: float = 0.002,
        min_history: int = 20,
        window: int = 60,
        clip: float = 4.0,
        min_relative_change: float = 0.3,
        min_absolute_change: float = 0.0,
        relative_floor: float = 0.05,
        absolute_floor: float = 1e-9,
        recovery_points: int = 4,
        rebaseline_after: int = 60,
    ) -> None:
        if not 0.0 < delta < 1.0:
            raise ValueError(f"delta: expected a number in (0, 1), got {delta!r}")
        self.delta = delta
        self.min_history = min_history
        self.window = window
        self.clip = clip
        self.min_relative_change = min_relative_change
        self.min_absolute_change = min_absolute_change
        self.relative_floor = relative_floor
        self.absolute_floor = absolute_floor
        self.recovery_points = recovery_points
        self.rebaseline_after = rebaseline_after
        self._reset()

    def _new_window(self) -> Any:
        return _adaptive_windowing()(delta=self.delta, clock=1, max_buckets=5,
                                     min_window_length=5, grace_period=10)

    def _reset(self) -> None:
        self._adwin = self._new_window()
        self._warmup: list[float] = []
        self._scale: tuple[float, float] | None = None
        self._recent: deque[tuple[float, float]] = deque(maxlen=self.window)
        self._last_ts: float | None = None
        self._active: dict[str, Any] | None = None
        self._pending: dict[str, Any] | None = None

    def _set_scale(self, values: list[float]) -> None:
        arr = np.asarray(values, dtype=float)
        level = float(np.median(arr))
        mad = float(np.median(np.abs(arr - level))) * _MAD_TO_SIGMA
        self._scale = (level, max(mad, self.relative_floor * abs(level), self.absolute_floor))
        self._adwin = self._new_window()

    def _significant(self, before: float, after: float) -> bool:
        return significant(before, after, min_absolute=self.min_absolute_change,
                           min_relative=self.min_relative_change, floor=self.absolute_floor)

    # -- update ---------------------------------------------------------------
    def update(self, ts: float, value: float) -> Detection | None:
        """Consume one sample; return a shift or recovery if this sample decides one."""
        if not math.isfinite(value):
            return None
        if self._last_ts is not None and ts <= self._last_ts:
            return None
        self._last_ts = ts
        if self._scale is None:
            self._warmup.append(value)
            if len(self._warmup) >= self.min_history:
                self._set_scale(self._warmup)
                self._warmup = []
            return None
        if self._active is not None:
            return self._update_active(ts, value)
        if self._pending is not None:
            recovered = self._check_pending(ts, value)
            if recovered is not None:
                return recovered
        level, spread = self._scale
        self._recent.append((ts, value))
        z = max(-self.clip, min(self.clip, (value - level) / spread))
        if not self._adwin.update(z):
            return None
        points = list(self._recent)
        split = self._best_split([v for _, v in points])
        after = float(np.median([v for _, v in points[split:]]))
        if not self._significant(level, after):
            return None
        return self._open(ts, points[split][0], level, spread, after)

    @staticmethod
    def _best_split(values: list[float]) -> int:
        """The index that best splits ``values`` into two means (at least 2 on each side)."""
        arr = np.asarray(values, dtype=float)
        n = len(arr)
        if n < 4:
            return 0
        csum = np.cumsum(arr)
        k = np.arange(2, n - 1)
        left, right = csum[k - 1] / k, (csum[-1] - csum[k - 1]) / (n - k)
        score = np.abs(right - left) * np.sqrt(k * (n - k) / n)
        return int(k[int(np.argmax(score))])

    def _open(self, ts: float, onset: float, before: float, spread: float, after: float) -> Detection:
        direction = Direction.UP if after > before else Direction.DOWN
        effect = abs(after - before) / spread
        confidence = max(0.0, min(1.0, 1.0 - math.exp(-max(0.0, effect - 1.0) / 3.0)))
        self._pending = None
        self._active = {"onset": onset, "direction": direction.value, "before": before, "spread": spread,
                        "after": after, "back": 0, "count": 0, "values": []}
        self._recent.clear()
        return Detection(EventKind.SHIFT, onset, ts, direction, before, after, confidence)

    def _update_active(self, ts: float, value: float) -> Detection | None:
        act = self._active
        assert act is not None
        act["count"] += 1
        act["values"] = (act["values"] + [value])[-self.window:]
        near = near_before(value, act["before"], act["after"], act["spread"])
        act["back"] = act["back"] + 1 if near else 0
        if act["back"] >= self.recovery_points:
            self._active = None
            self._adwin = self._new_window()
            return Detection(EventKind.RECOVERY, act["onset"], ts, Direction(act["direction"]),
                             act["after"], act["before"], 1.0)
        if not near and act["count"] >= self.rebaseline_after:
            self._set_scale(act["values"])   # the shift is the new normal
            self._pending = act
            self._active = None
        return None

    def _check_pending(self, ts: float, value: float) -> Detection | None:
        pend = self._pending
        assert pend is not None
        near = near_before(value, pend["before"], pend["after"], pend["spread"])
        pend["back"] = pend["back"] + 1 if near else 0
        pend["values"] = (pend["values"] + [value])[-self.window:]
        if pend["back"] < self.recovery_points:
            return None
        self._pending = None
        self._set_scale(pend["values"][-self.recovery_points:])
        self._recent.clear()
        return Detection(EventKind.RECOVERY, pend["onset"], ts, Direction(pend["direction"]),
                         pend["after"], pend["before"], 1.0)

    # -- state ----------------------------------------------------------------
    def state_dict(self) -> State:
        return {
            "version": self.VERSION,
            "adwin": window_to_json(self._adwin),
            "warmup": list(self._warmup),
            "scale": list(self._scale) if self._scale is not None else None,
            "recent": [list(p) for p in self._recent],
            "last_ts": self._last_ts,
            "active": dict(self._active) if self._active else None,
            "pending": dict(self._pending) if self._pending else None,
        }

    def load_state(self, state: State) -> None:
        if state.get("version") != self.VERSION:
            raise ValueError(f"Adwin state version {state.get('version')!r}, expected {self.VERSION}")
        self._reset()
        self._adwin = window_from_json(state["adwin"])
        self._warmup = [float(v) for v in state["warmup"]]
        scale = state["scale"]
        self._scale = (float(scale[0]), float(scale[1])) if scale is not None else None
        self._recent.extend((float(t), float(v)) for t, v in state["recent"])
        self._last_ts = state["last_ts"]
        self._active = dict(state["active"]) if state["active"] else None
        self._pending = dict(state["pending"]) if state["pending"] else None
