"""RobustCusum for many series at once: the quiet majority in numpy arrays, the few in a shift as objects."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import numpy as np

from .robust_cusum import RobustCusum
from .types import Detection, State

__all__ = ["RobustCusumBank"]

_MAD_TO_SIGMA = 1.4826
# Row arrays in a bank checkpoint: name -> little-endian dtype.
_CHECKPOINTED = {"hist": "<f8", "rts": "<f8", "rv": "<f8", "rz": "<f8", "hlen": "<i8", "hpos": "<i8", "rlen": "<i8",
                 "rpos": "<i8", "s_up": "<f8", "s_down": "<f8", "last_ts": "<f8"}


class RobustCusumBank:
    """A :class:`~detectors.series_bank.SeriesBank` of :class:`RobustCusum` series, vectorised.

    Each series is in one of two places. A series that is watching (no shift open or
    absorbed, neither CUSUM statistic past the threshold) lives in a row of ring buffers:
    its baseline window, and the recent samples and z-scores an onset estimate needs. A
    step advances all those rows together: the median and MAD of every window along an
    axis, the z-scores, both CUSUMs. A series whose statistic crosses the threshold at this
    step, or that is in a shift, is handed to a :class:`RobustCusum` built from its row,
    which takes the sample in Python; it returns to the arrays once it is watching again.
    The events are therefore exactly those of one ``RobustCusum`` per series (the tests
    check it), at numpy speed for the quiet majority.

    ``update_one`` (a single sample, the replay path) always uses the object, so a bank fed
    one sample at a time costs what the detectors alone cost; a later ``update`` folds
    the watching objects back into the arrays.

    Parameters
    ----------
    capacity
        Initial number of rows; the arrays grow by a quarter (at least 64 rows) when full, so
        at most a fifth of the rows stand unused.
    **settings
        :class:`RobustCusum` parameters (``window``, ``min_history``, ``drift``, ...).

    Examples
    --------
    >>> bank = RobustCusumBank(window=30, min_history=10)
    >>> found = []
    >>> for t in range(100):
    ...     level = 10.0 + (0.5 if t % 2 else -0.5)
    ...     values = [level, level + (20.0 if 60 <= t < 80 else 0.0), level * 3]
    ...     found += [(i, d.kind.value, d.onset, d.detected_at)
    ...               for i, d in bank.update(float(t), ["a", "b", "c"], values)]
    >>> found
    [(1, 'shift', 60.0, 63.0), (1, 'recovery', 60.0, 83.0)]
    >>> bank.objects  # "b" recovered: back in the arrays
    0
    """

    def __init__(self, capacity: int = 64, **settings: Any) -> None:
        self.settings = dict(settings)
        probe = RobustCusum(**settings)  # validates the settings and gives the defaults
        self.window = probe.window
        self.min_history = probe.min_history
        self.drift = probe.drift
        self.threshold = probe.threshold
        self.clip = probe.clip
        self.relative_floor = probe.relative_floor
        self.absolute_floor = probe.absolute_floor
        self.initial_capacity = max(1, capacity)
        self._reset()

    def _reset(self) -> None:
        n, w = self.initial_capacity, self.window
        self._rows: dict[str, int] = {}
        self._keys: list[str | None] = [None] * n
        self._free: list[int] = list(range(n - 1, -1, -1))
        self._objects: dict[int, RobustCusum] = {}
        self._hist = np.zeros((n, w))
        self._rts, self._rv, self._rz = np.zeros((n, w)), np.zeros((n, w)), np.zeros((n, w))
        self._hlen, self._hpos = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        self._rlen, self._rpos = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        self._s_up, self._s_down = np.zeros(n), np.zeros(n)
        self._last_ts = np.full(n, -np.inf)
        self._in_obj = np.zeros(n, dtype=bool)

    # -- rows ---------------------------------------------------------------------
    @property
    def capacity(self) -> int:
        return len(self._keys)

    @property
    def state_bytes_per_series(self) -> float:
        """Bytes of numpy state per row (the ring buffers and the scalars)."""
        arrays = (self._hist, self._rts, self._rv, self._rz, self._hlen, self._hpos, self._rlen, self._rpos,
                  self._s_up, self._s_down, self._last_ts, self._in_obj)
        return sum(a.nbytes for a in arrays) / self.capacity

    @property
    def objects(self) -> int:
        """Series currently advanced by an object (in or near a shift)."""
        return len(self._objects)

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def keys(self) -> list[str]:
        return list(self._rows)

    def _grow(self) -> None:
        old = self.capacity
        new = old + max(old // 4, 64)

        def more(a: np.ndarray, fill: float | bool = 0) -> np.ndarray:
            out = np.full((new,) + a.shape[1:], fill, dtype=a.dtype)
            out[:old] = a
            return out

        self._hist, self._rts, self._rv, self._rz = (more(a) for a in (self._hist, self._rts, self._rv, self._rz))
        self._hlen, self._hpos, self._rlen, self._rpos = (more(a) for a in (self._hlen, self._hpos, self._rlen,
                                                                              self._rpos))
        self._s_up, self._s_down = more(self._s_up), more(self._s_down)
        self._last_ts = more(self._last_ts, -np.inf)
        self._in_obj = more(self._in_obj, False)
        self._keys += [None] * (new - old)
        self._free = list(range(new - 1, old - 1, -1)) + self._free

    def _add(self, key: str) -> int:
        if not self._free:
            self._grow()
        row = self._free.pop()
        self._rows[key] = row
        self._keys[row] = key
        self._hlen[row] = self._hpos[row] = self._rlen[row] = self._rpos[row] = 0
        self._s_up[row] = self._s_down[row] = 0.0
        self._last_ts[row] = -np.inf
        self._in_obj[row] = False
        return row

    def drop(self, key: str) -> None:
        """Forget a series (its shard moved elsewhere); its row is reused."""
        row = self._rows.pop(key, None)
        if row is None:
            return
        self._keys[row] = None
        self._objects.pop(row, None)
        self._in_obj[row] = False
        self._free.append(row)

    # -- row <-> RobustCusum state --------------------------------------------------
    @staticmethod
    def _ordered(ring: np.ndarray, pos: int, length: int) -> list[float]:
        w = ring.shape[0]
        return [float(v) for v in ring[(pos - length + np.arange(length)) % w]]

    def _row_state(self, row: int) -> State:
        hl, rl = int(self._hlen[row]), int(self._rlen[row])
        hp, rp = int(self._hpos[row]), int(self._rpos[row])
        last = float(self._last_ts[row])
        return {
            "version": RobustCusum.VERSION,
            "history": self._ordered(self._hist[row], hp, hl),
            "recent": [[t, v] for t, v in zip(self._ordered(self._rts[row], rp, rl),
                                              self._ordered(self._rv[row], rp, rl), strict=True)],
            "recent_z": self._ordered(self._rz[row], rp, rl),
            "s_up": float(self._s_up[row]),
            "s_down": float(self._s_down[row]),
            "last_ts": None if last == -np.inf else last,
            "active": None,
            "pending": None,
        }

    def _set_row(self, row: int, state: State) -> None:
        """Write a watching series' state into its row: windows from slot 0, oldest first."""
        history = [float(v) for v in state["history"]][-self.window:]
        recent = [(float(t), float(v)) for t, v in state["recent"]][-self.window:]
        recent_z = [float(z) for z in state["recent_z"]][-self.window:]
        if len(recent) != len(recent_z):
            raise ValueError("RobustCusum state: recent and recent_z differ in length")
        self._hist[row, :len(history)] = history
        self._hlen[row] = len(history)
        self._hpos[row] = len(history) % self.window
        self._rts[row, :len(recent)] = [t for t, _ in recent]
        self._rv[row, :len(recent)] = [v for _, v in recent]
        self._rz[row, :len(recent)] = recent_z
        self._rlen[row] = len(recent)
        self._rpos[row] = len(recent) % self.window
        self._s_up[row] = float(state["s_up"])
        self._s_down[row] = float(state["s_down"])
        last = state["last_ts"]
        self._last_ts[row] = -np.inf if last is None else float(last)
        self._in_obj[row] = False

    def _watching(self, state: State) -> bool:
        return (state["active"] is None and state["pending"] is None
                and float(state["s_up"]) <= self.threshold and float(state["s_down"]) <= self.threshold)

    def _object(self, row: int) -> RobustCusum:
        det = self._objects.get(row)
        if det is None:
            det = RobustCusum(**self.settings)
            det.load_state(self._row_state(row))
            self._objects[row] = det
            self._in_obj[row] = True
        return det

    def _absorb(self) -> None:
        """Objects back to arrays, for the series that are watching again."""
        for row, det in list(self._objects.items()):
            state = det.state_dict()
            if self._watching(state):
                del self._objects[row]
                self._set_row(row, state)

    # -- state of one series --------------------------------------------------------
    def state(self, key: str) -> State:
        """The series' state in :meth:`RobustCusum.state_dict` format."""
        row = self._rows[key]
        det = self._objects.get(row)
        return det.state_dict() if det is not None else self._row_state(row)

    def load(self, key: str, state: State) -> None:
        """Resume a series from a :class:`RobustCusum` state (a checkpoint, another replica)."""
        det = RobustCusum(**self.settings)
        det.load_state(state)  # validates the version and the fields
        row = self._rows.get(key)
        if row is None:
            row = self._add(key)
        self._objects.pop(row, None)
        state = det.state_dict()
        if self._watching(state):
            self._set_row(row, state)
        else:
            self._objects[row] = det
            self._in_obj[row] = True

    # -- the whole bank ------------------------------------------------------------------
    VERSION = 1

    def state_dict(self) -> State:
        """The bank as a checkpoint: each row array as base64 bytes (cheap to encode for 100k series),
        the series in a shift as their :class:`RobustCusum` states."""
        keys = list(self._rows)
        rows = np.fromiter(self._rows.values(), dtype=np.int64, count=len(keys))
        arrays = {name: base64.b64encode(np.ascontiguousarray(getattr(self, f"_{name}")[rows], dtype=dtype)
                                         .tobytes()).decode("ascii")
                  for name, dtype in _CHECKPOINTED.items()}
        objects = {self._keys[row]: det.state_dict() for row, det in self._objects.items()}
        return {"version": self.VERSION, "kind": "RobustCusumBank", "window": self.window, "keys": keys,
                "arrays": arrays, "objects": objects}

    def load_state(self, state: State) -> None:
        """Restore a :meth:`state_dict`; raises ValueError naming what does not fit."""
        if state.get("version") != self.VERSION or state.get("kind") != "RobustCusumBank":
            raise ValueError(f"bank checkpoint of kind {state.get('kind')!r} version {state.get('version')!r}, "
                             f"expected RobustCusumBank version {self.VERSION}")
        if state.get("window") != self.window:
            raise ValueError(f"bank checkpoint window {state.get('window')!r}, this bank's is {self.window}")
        keys = [str(k) for k in state["keys"]]
        n, w = len(keys), self.window
        if len(set(keys)) != n:
            raise ValueError("bank checkpoint keys: a series is listed twice")
        if not set(state["objects"]) <= set(keys):
            raise ValueError("bank checkpoint objects: a series that is not in keys")
        decoded: dict[str, np.ndarray] = {}
        for name, dtype in _CHECKPOINTED.items():
            arr = np.frombuffer(base64.b64decode(state["arrays"][name]), dtype=dtype)
            width = w if name in ("hist", "rts", "rv", "rz") else 1
            if arr.size != n * width:
                raise ValueError(f"bank checkpoint arrays.{name}: {arr.size} values for {n} series")
            decoded[name] = arr.reshape((n, w)) if width > 1 else arr
        objects = {}
        for key, st in state["objects"].items():
            det = RobustCusum(**self.settings)
            det.load_state(st)
            objects[key] = det
        self.initial_capacity, capacity = max(n, 1), self.initial_capacity
        self._reset()
        self.initial_capacity = capacity
        for name, arr in decoded.items():
            getattr(self, f"_{name}")[:n] = arr
        self._rows = {k: i for i, k in enumerate(keys)}
        self._keys[:n] = keys
        self._free = list(range(len(self._keys) - 1, n - 1, -1))
        for key, det in objects.items():
            row = self._rows[key]
            self._objects[row] = det
            self._in_obj[row] = True

    # -- updates --------------------------------------------------------------------
    def update_one(self, key: str, ts: float, value: float) -> Detection | None:
        """One sample of one series, exactly as :meth:`RobustCusum.update`."""
        row = self._rows.get(key)
        if row is None:
            row = self._add(key)
        return self._object(row).update(ts, value)

    def update(self, ts: float, keys: Sequence[str], values: Sequence[float] | np.ndarray,
               ) -> list[tuple[int, Detection]]:
        """One step of many series (``keys[i]`` took ``values[i]`` at ``ts``); new keys are added.

        NaN/Inf is a gap and a sample not after the series' last one is ignored, as by
        :meth:`RobustCusum.update`. A key given twice is taken in order, like two samples.
        Returns ``(i, detection)`` in the order of ``keys``.
        """
        x = np.asarray(values, dtype=float)
        if x.shape != (len(keys),):
            raise ValueError(f"values: expected {len(keys)} numbers, one per key, got shape {x.shape}")
        rows_of, add = self._rows, self._add
        rows = np.fromiter((rows_of[k] if k in rows_of else add(k) for k in keys), dtype=np.int64, count=len(keys))
        first = np.ones(len(keys), dtype=bool)
        if len(np.unique(rows)) < len(rows):
            _, firsts = np.unique(rows, return_index=True)
            first[:] = False
            first[firsts] = True
        idx = np.flatnonzero(first)
        out = self._step(ts, idx, rows[idx], x[idx])
        for i in np.flatnonzero(~first):  # repeated keys: a second sample of the same series at ts
            found = self._object(int(rows[i])).update(ts, float(x[i]))
            if found is not None:
                out.append((int(i), found))
        self._absorb()
        out.sort(key=lambda p: p[0])
        return out

    def _step(self, ts: float, idx: np.ndarray, rows: np.ndarray, x: np.ndarray) -> list[tuple[int, Detection]]:
        out: list[tuple[int, Detection]] = []
        in_obj = self._in_obj[rows]
        for j in np.flatnonzero(in_obj):
            found = self._objects[int(rows[j])].update(ts, float(x[j]))
            if found is not None:
                out.append((int(idx[j]), found))
        ok = ~in_obj & np.isfinite(x) & (ts > self._last_ts[rows])
        rows, x, idx = rows[ok], x[ok], idx[ok]
        if len(rows) == 0:
            return out
        warm = self._hlen[rows] < self.min_history
        watch = ~warm
        w_rows, w_x, w_idx = rows[watch], x[watch], idx[watch]
        level, spread = self._baseline(w_rows)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.minimum(np.maximum((w_x - level) / spread, -self.clip), self.clip)
        s_up = np.maximum(0.0, self._s_up[w_rows] + z - self.drift)
        s_down = np.maximum(0.0, self._s_down[w_rows] - z - self.drift)
        cross = (s_up > self.threshold) | (s_down > self.threshold)
        for j in np.flatnonzero(cross):  # the statistic crossed: the object decides (onset, size, open)
            found = self._object(int(w_rows[j])).update(ts, float(w_x[j]))
            if found is not None:
                out.append((int(w_idx[j]), found))
        calm = ~cross
        c_rows, c_x = w_rows[calm], w_x[calm]
        self._last_ts[c_rows] = ts
        self._last_ts[rows[warm]] = ts
        self._s_up[c_rows], self._s_down[c_rows] = s_up[calm], s_down[calm]
        pos = self._rpos[c_rows]
        self._rts[c_rows, pos] = ts
        self._rv[c_rows, pos] = c_x
        self._rz[c_rows, pos] = z[calm]
        self._rpos[c_rows] = (pos + 1) % self.window
        self._rlen[c_rows] = np.minimum(self._rlen[c_rows] + 1, self.window)
        # Warm-up samples always enter the baseline; later ones unless they are outliers.
        normal = np.abs(z[calm]) <= 3.0
        self._append_history(np.concatenate([rows[warm], c_rows[normal]]), np.concatenate([x[warm], c_x[normal]]))
        return out

    def _append_history(self, rows: np.ndarray, x: np.ndarray) -> None:
        pos = self._hpos[rows]
        self._hist[rows, pos] = x
        self._hpos[rows] = (pos + 1) % self.window
        self._hlen[rows] = np.minimum(self._hlen[rows] + 1, self.window)

    def _baseline(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Median and floored MAD spread of each row's window; a partial window is in slots ``[0, len)``."""
        level, mad = np.empty(len(rows)), np.empty(len(rows))
        lengths = self._hlen[rows]
        for length in np.unique(lengths):
            sel = np.flatnonzero(lengths == length)
            h = self._hist[rows[sel], :int(length)]
            med = np.median(h, axis=1)
            level[sel] = med
            mad[sel] = np.median(np.abs(h - med[:, None]), axis=1) * _MAD_TO_SIGMA
        spread = np.maximum(np.maximum(mad, self.relative_floor * np.abs(level)), self.absolute_floor)
        return level, spread
