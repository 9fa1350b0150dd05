"""Run the top candidates' confirm tests and re-rank the incident with their outcomes.

The engine calls a :class:`ConfirmRunner` after each ranking of an incident (and, at each step,
while a test still waits for data): the runner plans the test of each of the top candidates,
fetches its data from a :class:`~daemon.confirm.source.ConfirmSource` as of that event time,
judges it and re-ranks. A decided test (confirmed or refuted) is kept; an inconclusive one is
run again a step later while it lacks data, within a budget of queries per incident. A test
whose source has no series to split (no version label) says so once and is not re-run.

In replay the source reads the scenario and the runner is called inline; the live daemon calls
the same source off the event loop (a thread) and feeds the runner what came back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from correlators.confirm import ConfirmResult, JudgePolicy, Verdict, judge, plan_test, rerank
from correlators.incidents import Incident
from correlators.recommend import recommend
from correlators.types import Candidate, Cause, CauseType, Change, Ranking, Recommendation, Topology

from .source import ConfirmSource

__all__ = ["ConfirmPolicy", "ConfirmRunner"]


@dataclass(frozen=True)
class ConfirmPolicy:
    """How many tests, how often.

    top: the best-ranked candidates (not counting refuted ones) whose tests run.
    max_queries: fetches per incident, at most.
    every: seconds between two runs of a test still waiting for data.
    low_confidence: a top score below this is said to be low confidence (as the ranking's).
    """

    top: int = 3
    max_queries: int = 40
    every: float = 0.0
    low_confidence: float = 0.5
    judge: JudgePolicy = field(default_factory=JudgePolicy)


@dataclass
class _Tests:
    results: dict[Cause, ConfirmResult] = field(default_factory=dict)
    looks: dict[Cause, int] = field(default_factory=dict)
    queries: int = 0
    last: float = float("-inf")


class ConfirmRunner:
    """The engine's confirm hook: ``runner(incident, ranking, ts, changes) -> ranking``.

    Parameters
    ----------
    source
        Where the tests' data come from.
    topology
        The services (for the recommendation when the top candidate changes).
    step
        Seconds between samples: an inconclusive test is re-run at most once a step.
    policy
        Budgets.
    """

    def __init__(self, source: ConfirmSource, topology: Topology, step: float,
                 policy: ConfirmPolicy | None = None) -> None:
        self.source = source
        self.topology = topology
        self.policy = policy or ConfirmPolicy()
        self.every = max(self.policy.every, step)
        self._tests: dict[str, _Tests] = {}

    def __call__(self, inc: Incident, ranking: Ranking, ts: float, changes: Sequence[Change]) -> Ranking:
        tests = self._tests.setdefault(inc.id, _Tests())
        by_id = {c.id: c for c in changes}
        signals = [a.signal for a in inc.anomalies]
        rises: dict[tuple[str, str], float] = {}
        for a in inc.anomalies:
            key = (a.service, a.signal)
            rises[key] = max(rises.get(key, 0.0), a.after - a.before)
        tested = 0
        for cand in ranking.candidates:
            if tested >= self.policy.top:
                break
            if cand.cause.type is CauseType.NONE:
                continue
            prev = tests.results.get(cand.cause)
            if prev is not None and prev.verdict is Verdict.REFUTED:
                continue
            tested += 1
            if not self._due(prev, ts, tests):
                continue
            change = by_id.get(cand.cause.ref) if cand.cause.type is CauseType.CHANGE else None
            plan = plan_test(cand, change, signals, inc.estimated_onset, rises)
            if plan is None:
                continue
            tests.queries += 1
            tests.last = ts
            looks = tests.looks[cand.cause] = tests.looks.get(cand.cause, 0) + 1
            tests.results[cand.cause] = judge(plan, self.source.fetch(plan, ts), ts, self.policy.judge, looks)

        def recommend_for(cands: Sequence[Candidate]) -> Recommendation:
            return recommend(list(cands), by_id, self.topology, inc)
        return rerank(ranking, tests.results, recommend=recommend_for, low_confidence=self.policy.low_confidence)

    def _due(self, prev: ConfirmResult | None, ts: float, tests: _Tests) -> bool:
        if tests.queries >= self.policy.max_queries:
            return False
        if prev is None:
            return True
        if prev.verdict is not Verdict.INCONCLUSIVE or not prev.signals:
            return False  # decided, or nothing to split: running it again cannot help
        return ts - prev.at >= self.every

    def waiting(self, inc: Incident, ts: float) -> bool:
        """Is a test of this incident waiting for more data and due again (re-rank it now)?"""
        tests = self._tests.get(inc.id)
        if tests is None or tests.queries >= self.policy.max_queries:
            return False
        return any(r.verdict is Verdict.INCONCLUSIVE and r.signals and ts - r.at >= self.every
                   for r in tests.results.values())

    def forget(self, incident_id: str) -> None:
        self._tests.pop(incident_id, None)
