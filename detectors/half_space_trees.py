"""river's HalfSpaceTrees as a per-sample anomaly scorer, its masses kept as JSON."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .types import State

__all__ = ["HalfSpaceTreesScorer"]

_MAD_TO_SIGMA = 1.4826
_FEATURE = "z"


class HalfSpaceTreesScorer:
    """An anomaly score in [0, 1] for each sample from river's ``HalfSpaceTrees``.

    A scorer, not a :class:`Detector`: it says how unusual one sample is (a lone glitch
    scores high, which is what it is for), with no onset, direction or level, so it does
    not keep the Detector contract (a glitch must raise no SHIFT there). The first
    ``min_history`` samples fix a robust scale; each later sample is scored as its z-score
    (clamped to ``±z_limit``, the trees' limits) and then learnt. river's trees compare the
    current window of ``window_size`` samples with the previous one, so a lasting level
    becomes normal after a window.

    State is JSON: the trees' shape comes back from ``seed`` (river builds them from a
    seeded generator on the first sample), and their masses, the only thing learning
    changes, are stored as ``[tree, node, l_mass, r_mass]`` for the nodes that have any.

    Parameters
    ----------
    n_trees, height, window_size
        river's ``HalfSpaceTrees`` settings.
    seed
        Seed of the trees' random splits (part of the state's meaning: keep it fixed).
    min_history
        Samples that fix the scale before anything is scored.
    z_limit
        The trees cover z-scores in ``[-z_limit, z_limit]``.
    relative_floor, absolute_floor
        Floors of the scale's spread.

    Examples
    --------
    >>> scorer = HalfSpaceTreesScorer(window_size=50)
    >>> scores = [scorer.score(float(t), 10.0 + (0.5 if t % 2 else -0.5) + (40.0 if t == 150 else 0.0))
    ...           for t in range(160)]
    >>> scores[0] is None, round(scores[150], 2) > round(max(scores[120:150]), 2)
    (True, True)
    """

    VERSION = 1

    def __init__(
        self,
        n_trees: int = 10,
        height: int = 8,
        window_size: int = 250,
        seed: int = 42,
        min_history: int = 20,
        z_limit: float = 10.0,
        relative_floor: float = 0.05,
        absolute_floor: float = 1e-9,
    ) -> None:
        if n_trees < 1 or height < 1 or window_size < 1:
            raise ValueError("n_trees, height and window_size must be at least 1")
        self.n_trees = n_trees
        self.height = height
        self.window_size = window_size
        self.seed = seed
        self.min_history = min_history
        self.z_limit = z_limit
        self.relative_floor = relative_floor
        self.absolute_floor = absolute_floor
        self._reset()

    def _new_trees(self) -> Any:
        from river.anomaly import HalfSpaceTrees

        return HalfSpaceTrees(n_trees=self.n_trees, height=self.height, window_size=self.window_size,
                              limits={_FEATURE: (-self.z_limit, self.z_limit)}, seed=self.seed)

    def _reset(self) -> None:
        self._hst = self._new_trees()
        self._warmup: list[float] = []
        self._scale: tuple[float, float] | None = None
        self._last_ts: float | None = None

    def score(self, ts: float, value: float) -> float | None:
        """Score one sample, then learn it; None while warming up or for a bad or late sample."""
        if not math.isfinite(value):
            return None
        if self._last_ts is not None and ts <= self._last_ts:
            return None
        self._last_ts = ts
        if self._scale is None:
            self._warmup.append(value)
            if len(self._warmup) >= self.min_history:
                arr = np.asarray(self._warmup, dtype=float)
                level = float(np.median(arr))
                mad = float(np.median(np.abs(arr - level))) * _MAD_TO_SIGMA
                self._scale = (level, max(mad, self.relative_floor * abs(level), self.absolute_floor))
                self._warmup = []
            return None
        level, spread = self._scale
        x = {_FEATURE: max(-self.z_limit, min(self.z_limit, (value - level) / spread))}
        result = float(self._hst.score_one(x))
        self._hst.learn_one(x)
        return result

    # -- state ----------------------------------------------------------------
    def state_dict(self) -> State:
        masses = [
            [t, i, node.l_mass, node.r_mass]
            for t, nodes in enumerate(self._hst._tree_nodes)
            for i, node in enumerate(nodes)
            if node.l_mass or node.r_mass
        ]
        return {
            "version": self.VERSION,
            "seed": self.seed,
            "warmup": list(self._warmup),
            "scale": list(self._scale) if self._scale is not None else None,
            "last_ts": self._last_ts,
            "built": bool(self._hst.trees),
            "counter": self._hst.counter,
            "first_window": self._hst._first_window,
            "masses": masses,
        }

    def load_state(self, state: State) -> None:
        if state.get("version") != self.VERSION:
            raise ValueError(
                f"HalfSpaceTreesScorer state version {state.get('version')!r}, expected {self.VERSION}")
        if state.get("seed") != self.seed:
            raise ValueError(
                f"HalfSpaceTreesScorer state seed {state.get('seed')!r}: "
                f"the trees were built with {self.seed}")
        self._reset()
        self._warmup = [float(v) for v in state["warmup"]]
        scale = state["scale"]
        self._scale = (float(scale[0]), float(scale[1])) if scale is not None else None
        self._last_ts = state["last_ts"]
        if not state["built"]:
            return
        self._hst.learn_one({_FEATURE: 0.0})   # builds the trees from the seed, as the first sample did
        nodes = self._hst._tree_nodes
        for tree in nodes:
            for node in tree:
                node.l_mass = node.r_mass = 0
        for entry in state["masses"]:
            if not (isinstance(entry, list) and len(entry) == 4 and all(isinstance(v, int) for v in entry)):
                raise ValueError(
                    "HalfSpaceTreesScorer state masses: expected [tree, node, l_mass, r_mass] integers, "
                    f"got {entry!r}")
            t, i, left, right = entry
            if not (0 <= t < len(nodes) and 0 <= i < len(nodes[t])) or left < 0 or right < 0:
                raise ValueError(f"HalfSpaceTreesScorer state masses: entry {entry!r} out of range")
            nodes[t][i].l_mass, nodes[t][i].r_mass = left, right
        counter = state["counter"]
        if not isinstance(counter, int) or not 0 <= counter < self.window_size:
            raise ValueError(
                f"HalfSpaceTreesScorer state counter: expected 0 to {self.window_size - 1}, got {counter!r}")
        self._hst.counter = counter
        self._hst._first_window = bool(state["first_window"])
