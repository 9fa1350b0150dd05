"""Bayesian online change-point detection (Adams & MacKay, 2007) with run-length pruning."""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np
from scipy.special import gammaln, logsumexp

from .recovery import near_before
from .types import Detection, Direction, EventKind, State

__all__ = ["Bocpd"]

_MAD_TO_SIGMA = 1.4826


class Bocpd:
    """Bayesian online change-point detection with a Normal-Gamma model.

    Samples are standardised by the median and MAD of the first ``min_history``
    samples; each segment between change points is Gaussian with unknown mean and
    variance under a conjugate Normal-Gamma prior (``kappa0``, ``alpha0``, ``beta0``),
    so the predictive is a Student t. The hazard is constant, ``1 / expected_run``.
    The run-length posterior is pruned to hypotheses with probability at least
    ``prune_below``, and to the ``max_runs`` most probable, so a step costs O(max_runs).

    A change is a new most probable segment that has lasted ``persist`` samples. Its
    onset is the segment's first sample (the posterior's own estimate, not a detection
    delay), ``before``/``after`` are medians of the recent samples on each side. It pages
    as a SHIFT when the change is large enough (see ``min_*`` below); a later change back near the
    pre-shift level is its RECOVERY. A change that does not matter (a glitch, noise)
    is absorbed: the new segment simply becomes the reference. A shift that persists
    is the current segment: it pages once.

    Parameters
    ----------
    expected_run
        Prior mean segment length in samples (the hazard is its inverse).
    max_runs, prune_below
        Run-length pruning.
    min_history
        Samples used to standardise the series before anything is reported.
    persist
        Samples a new segment must last before it is a change.
    window
        Recent samples kept to place the onset and measure the levels.
    kappa0, alpha0, beta0
        Normal-Gamma prior, in standardised units.
    min_relative_change, min_absolute_change, min_effect
        What is worth a page: ``|after - before|`` at least this fraction of ``|before|``,
        this much in the series' unit, and this many sigmas.
    relative_floor, absolute_floor
        Floors of the standardising sigma.

    Examples
    --------
    A latency that halves for a while, then comes back:

    >>> det = Bocpd(min_history=10)
    >>> found = []
    >>> for t in range(120):
    ...     latency = (0.4 if 50 <= t < 90 else 0.8) + 0.01 * ((t * 7) % 5 - 2)
    ...     event = det.update(1000.0 + 30.0 * t, latency)
    ...     if event:
    ...         found.append((event.kind.value, event.direction.value, (event.onset - 1000.0) / 30.0))
    >>> found
    [('shift', 'down', 50.0), ('recovery', 'down', 50.0)]
    """

    VERSION = 1

    def __init__(
        self, expected_run: float = 250.0, max_runs: int = 100, prune_below: float = 1e-6,
        min_history: int = 20, persist: int = 3, window: int = 120, kappa0: float = 0.1,
        alpha0: float = 1.0, beta0: float = 1.0, min_relative_change: float = 0.3, min_absolute_change: float = 0.0,
        min_effect: float = 3.0,
        relative_floor: float = 0.05, absolute_floor: float = 1e-9,
    ) -> None:
        self.expected_run = expected_run
        self.max_runs = max_runs
        self.prune_below = prune_below
        self.min_history = min_history
        self.persist = persist
        self.window = window
        self.kappa0 = kappa0
        self.alpha0 = alpha0
        self.beta0 = beta0
        self.min_relative_change = min_relative_change
        self.min_absolute_change = min_absolute_change
        self.min_effect = min_effect
        self.relative_floor = relative_floor
        self.absolute_floor = absolute_floor
        self._reset()

    def _reset(self) -> None:
        self._last_ts: float | None = None
        self._warm: list[float] = []
        self._center = 0.0
        self._scale = 1.0
        # Run-length hypotheses: samples in segment, posterior params, log probability.
        self._n = np.zeros(0)
        self._mu = np.zeros(0)
        self._kappa = np.zeros(0)
        self._alpha = np.zeros(0)
        self._beta = np.zeros(0)
        self._logp = np.zeros(0)
        self._recent: deque[tuple[float, float]] = deque(maxlen=self.window)
        self._since = 0          # samples in the reference segment (since the last accepted change)
        self._active: dict[str, Any] | None = None

    # -- model ----------------------------------------------------------------
    def _posterior(self, z: float, n: np.ndarray, mu: np.ndarray, kappa: np.ndarray, alpha: np.ndarray,
                   beta: np.ndarray) -> tuple[np.ndarray, ...]:
        kappa1 = kappa + 1.0
        return (n + 1.0, (kappa * mu + z) / kappa1, kappa1, alpha + 0.5,
                beta + kappa * (z - mu) ** 2 / (2.0 * kappa1))

    @staticmethod
    def _log_predictive(z: float, mu: np.ndarray, kappa: np.ndarray, alpha: np.ndarray,
                        beta: np.ndarray) -> np.ndarray:
        nu = 2.0 * alpha
        s2 = beta * (kappa + 1.0) / (alpha * kappa)
        out: np.ndarray = (gammaln((nu + 1.0) / 2.0) - gammaln(nu / 2.0) - 0.5 * np.log(nu * math.pi * s2)
                           - (nu + 1.0) / 2.0 * np.log1p((z - mu) ** 2 / (nu * s2)))
        return out

    def _step(self, z: float) -> None:
        prior = (np.zeros(1), np.zeros(1), np.full(1, self.kappa0), np.full(1, self.alpha0), np.full(1, self.beta0))
        if self._n.size == 0:
            self._n, self._mu, self._kappa, self._alpha, self._beta = self._posterior(z, *prior)
            self._logp = np.zeros(1)
            return
        hazard = 1.0 / self.expected_run
        pred = self._log_predictive(z, self._mu, self._kappa, self._alpha, self._beta)
        pred0 = float(self._log_predictive(z, *prior[1:])[0])
        grow = self._logp + pred + math.log1p(-hazard)
        change = float(logsumexp(self._logp)) + math.log(hazard) + pred0
        logp = np.concatenate(([change], grow))
        logp -= logsumexp(logp)
        grown = self._posterior(z, self._n, self._mu, self._kappa, self._alpha, self._beta)
        fresh = self._posterior(z, *prior)
        n, mu, kappa, alpha, beta = (np.concatenate((f, g)) for f, g in zip(fresh, grown))
        keep = np.flatnonzero(logp >= math.log(self.prune_below))
        if keep.size > self.max_runs:
            keep = np.sort(keep[np.argpartition(-logp[keep], self.max_runs)[: self.max_runs]])
        self._n, self._mu, self._kappa, self._alpha, self._beta = n[keep], mu[keep], kappa[keep], alpha[keep], beta[keep]
        logp = logp[keep]
        self._logp = logp - logsumexp(logp)

    # -- update ---------------------------------------------------------------
    def update(self, ts: float, value: float) -> Detection | None:
        """Consume one sample; return a shift or recovery if this sample decides one."""
        if not math.isfinite(value):
            return None
        if self._last_ts is not None and ts <= self._last_ts:
            return None
        self._last_ts = ts
        if len(self._warm) < self.min_history:
            self._warm.append(value)
            self._recent.append((ts, value))
            if len(self._warm) == self.min_history:
                arr = np.asarray(self._warm)
                self._center = float(np.median(arr))
                mad = float(np.median(np.abs(arr - self._center))) * _MAD_TO_SIGMA
                self._scale = max(mad, self.relative_floor * abs(self._center), self.absolute_floor)
                self._since = len(self._warm)
            return None
        self._recent.append((ts, value))
        self._since += 1
        self._step((value - self._center) / self._scale)
        best = int(np.argmax(self._logp))
        run = int(self._n[best])
        if not (self.persist <= run < self._since and run < len(self._recent)):
            return None
        return self._judge(ts, run, float(math.exp(self._logp[best])))

    def _judge(self, ts: float, run: int, mass: float) -> Detection | None:
        points = list(self._recent)
        onset = points[-run][0]
        before_values = [v for _, v in points[:-run]]
        after = float(np.median([v for _, v in points[-run:]]))
        act = self._active
        if act is not None:
            if near_before(after, act["before"], act["after"], act["spread"]):
                self._active = None
                self._since = run
                return Detection(EventKind.RECOVERY, act["onset"], ts, Direction(act["direction"]),
                                 act["after"], act["before"], 1.0)
            before = act["after"]
        else:
            if len(before_values) < self.persist:
                return None
            before = float(np.median(before_values))
        spread = max(self._scale, self.relative_floor * abs(before), self.absolute_floor)
        delta = after - before
        if abs(delta) < self.min_relative_change * max(abs(before), self.absolute_floor) \
                or abs(delta) < self.min_effect * spread or abs(delta) < self.min_absolute_change:
            if run >= 2 * self.persist:
                self._since = run          # not worth a page: the new segment is the reference
            return None
        direction = Direction.UP if delta > 0 else Direction.DOWN
        self._since = run
        if act is not None and act["direction"] == direction.value:
            act["after"] = after           # the same excursion moved further: no second page
            return None
        self._active = {"onset": onset, "direction": direction.value, "before": before,
                        "after": after, "spread": spread}
        confidence = max(0.0, min(1.0, mass * (1.0 - math.exp(-abs(delta) / spread / 3.0))))
        return Detection(EventKind.SHIFT, onset, ts, direction, before, after, confidence)

    # -- state ----------------------------------------------------------------
    def state_dict(self) -> State:
        return {
            "version": self.VERSION, "last_ts": self._last_ts, "warm": list(self._warm),
            "center": self._center, "scale": self._scale,
            "runs": {k: getattr(self, f"_{k}").tolist() for k in ("n", "mu", "kappa", "alpha", "beta", "logp")},
            "recent": [list(p) for p in self._recent], "since": self._since,
            "active": dict(self._active) if self._active else None,
        }

    def load_state(self, state: State) -> None:
        if state.get("version") != self.VERSION:
            raise ValueError(f"Bocpd state version {state.get('version')!r}, expected {self.VERSION}")
        self._reset()
        self._last_ts = state["last_ts"]
        self._warm = [float(v) for v in state["warm"]]
        self._center = float(state["center"])
        self._scale = float(state["scale"])
        for k, values in state["runs"].items():
            setattr(self, f"_{k}", np.asarray(values, dtype=float))
        self._recent.extend((float(t), float(v)) for t, v in state["recent"])
        self._since = int(state["since"])
        self._active = dict(state["active"]) if state["active"] else None
