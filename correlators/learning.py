"""Learning from responders: "the cause was X" (or "none of these") updates the evidence weights.

The ranking's logit is linear in a candidate's features, and a softmax over the candidates and
"none of these" (whose features are all zero) gives the scores. Feedback on one incident is one
observation of that softmax: the true cause beat every other candidate. We learn it online as
pairwise comparisons (Bradley-Terry): for every other candidate ``j``, a logistic regression
without intercept sees ``features(true) - features(j)`` labelled "the first won". Its gradient
moves the weights exactly towards ranking the true cause above each rival, and because the
comparison of two candidates only depends on the difference of their logits, the learned
coefficients *are* the ranking's weights.

The model is a logistic regression without intercept learnt by plain SGD on the log loss (what
river's ``LogisticRegression`` with ``intercept_lr=0``, ``l2=0`` and ``SGD`` computes), its weights a
dict held here and started at the hand-set :data:`~correlators.ranking.DEFAULT_WEIGHTS` (the prior)
so that a few answers nudge the ranking rather than replace it. Plain SGD has no state besides the
weights, so :meth:`state_dict` / :meth:`load_state` round-trip exactly through JSON and a restart
resumes where it left off.

Pure: no I/O. The daemon persists :meth:`state_dict` (store table ``feedback`` holds the answers;
replaying them rebuilds the same weights) and passes :meth:`weights` to the engine.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from .ranking import DEFAULT_WEIGHTS, Weights
from .types import Candidate, Cause, CauseType

__all__ = ["CandidateFeatures", "OnlineWeights"]

CandidateFeatures = Candidate | tuple[Cause, Mapping[str, float]]

_VERSION = 1


class OnlineWeights:
    """Evidence weights that learn from confirmed causes.

    >>> from correlators.types import Cause, CauseType
    >>> ow = OnlineWeights(prior={"bias": -1.0, "kind_deploy": 0.5, "kind_config": 0.4}, learning_rate=0.5)
    >>> deploy, config = Cause(CauseType.CHANGE, "d"), Cause(CauseType.CHANGE, "c")
    >>> cands = [(deploy, {"bias": 1.0, "kind_deploy": 1.0}), (config, {"bias": 1.0, "kind_config": 1.0})]
    >>> ow.update(cands, config)
    True
    >>> w = ow.weights(); w["kind_config"] > 0.4 and w["kind_deploy"] < 0.5
    True
    >>> OnlineWeights.from_state(ow.state_dict()).weights() == w
    True
    """

    def __init__(self, prior: Weights | None = None, *, learning_rate: float = 0.2, clip: float = 5.0) -> None:
        self.prior = dict(DEFAULT_WEIGHTS if prior is None else prior)
        self.learning_rate = learning_rate
        self.clip = clip
        self.updates = 0
        self._weights = {k: float(v) for k, v in self.prior.items()}

    def weights(self) -> dict[str, float]:
        """Current weights for :func:`correlators.ranking.rank` (every prior key is present)."""
        return {**self.prior, **self._weights}

    def _learn_won(self, x: Mapping[str, float]) -> None:
        """One SGD step of the log loss on ``x`` labelled "the first won" (label 1, no intercept)."""
        z = sum(self._weights.get(k, 0.0) * v for k, v in x.items())
        # d(log loss)/dz at label 1 is -1 / (1 + e^z); past |z| = 18 its limits, so exp cannot overflow
        if z > 18.0:
            grad = -math.exp(-z)
        elif z < -18.0:
            grad = -1.0
        else:
            grad = -1.0 / (math.exp(z) + 1.0)
        grad = max(min(grad, self.clip), -self.clip)
        for k, v in x.items():
            self._weights[k] = self._weights.get(k, 0.0) - self.learning_rate * (v * grad)

    def update(self, candidates: Iterable[CandidateFeatures], true_cause: Cause) -> bool:
        """Learn that ``true_cause`` was the cause among ``candidates`` (a ranking's candidates, or
        ``(cause, features)`` pairs). "None of these" is ``Cause(CauseType.NONE)``: every candidate
        then lost to the empty feature vector.

        Returns False (and learns nothing) when the true cause is not among the candidates with
        features: a dead end or an unrecorded change says nothing about how to weigh evidence.
        """
        feats: dict[Cause, Mapping[str, float]] = {}
        for c in candidates:
            cause, f = (c.cause, c.features) if isinstance(c, Candidate) else c
            feats[cause] = {} if cause.type is CauseType.NONE else f
        if true_cause.type is CauseType.NONE:
            feats.setdefault(true_cause, {})
        if true_cause not in feats:
            return False
        won = feats[true_cause]
        rivals = [f for cause, f in feats.items() if cause != true_cause]
        if true_cause.type is not CauseType.NONE and Cause(CauseType.NONE) not in feats:
            rivals.append({})  # the true cause also beat "none of these"
        for lost in rivals:
            diff = {k: won.get(k, 0.0) - lost.get(k, 0.0) for k in set(won) | set(lost)}
            diff = {k: v for k, v in diff.items() if v}
            if diff:
                self._learn_won(diff)
        self.updates += 1
        return True

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable, versioned."""
        return {
            "version": _VERSION, "learning_rate": self.learning_rate, "clip": self.clip,
            "updates": self.updates, "prior": dict(self.prior), "weights": self.weights(),
        }

    def load_state(self, state: Mapping[str, Any]) -> None:
        if state.get("version") != _VERSION:
            raise ValueError(f"learning state version {state.get('version')!r} is not supported")
        self.learning_rate = float(state["learning_rate"])
        self.clip = float(state["clip"])
        self.updates = int(state["updates"])
        # New features of a newer ranking start at their prior; known ones keep what was learned.
        self.prior = {**self.prior, **{k: float(v) for k, v in state["prior"].items()}}
        self._weights = {k: float(v) for k, v in {**self.prior, **state["weights"]}.items()}

    @classmethod
    def from_state(cls, state: Mapping[str, Any], prior: Weights | None = None) -> OnlineWeights:
        ow = cls(prior if prior is not None else state["prior"])
        ow.load_state(state)
        return ow
