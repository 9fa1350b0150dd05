"""Run the top candidates' confirm tests and re-rank the incident with their outcomes.

The engine calls a :class:`ConfirmRunner` after each ranking of an incident (and, at each step,
while a test still waits for data): the runner plans the test of each of the top candidates,
fetches its data from a :class:`~daemon.confirm.source.ConfirmSource` as of that event time,
judges it and re-ranks. A decided test (confirmed or refuted) is kept; an inconclusive one is
run again a step later while it lacks data, within a budget of queries per incident. A test
whose source has no series to split (no version label) says so once and is not re-run.

In replay the source reads the scenario and the runner fetches inline. Live, the runner has no
source: it queues the plans that are due (:meth:`ConfirmRunner.take`), a task fetches and judges
them off the event loop (:mod:`daemon.confirm.live`) and hands the outcomes back
(:meth:`ConfirmRunner.record`); the engine re-ranks the incident at its next flush.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from correlators.confirm import ConfirmPlan, ConfirmResult, JudgePolicy, Verdict, judge, plan_test, rerank
from correlators.incidents import Incident
from correlators.recommend import recommend
from correlators.types import Candidate, Cause, CauseType, Change, Ranking, Recommendation, Topology

from .source import ConfirmSource

__all__ = ["ConfirmPolicy", "ConfirmRunner", "Due"]


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


@dataclass(frozen=True, slots=True)
class Due:
    """A test to run: the incident, the plan, as of when, and which look at it this is."""

    incident: str
    plan: ConfirmPlan
    until: float
    look: int


@dataclass
class _Tests:
    results: dict[Cause, ConfirmResult] = field(default_factory=dict)
    queued: dict[Cause, Due] = field(default_factory=dict)
    fresh: bool = False
    looks: dict[Cause, int] = field(default_factory=dict)
    queries: int = 0
    last: float = float("-inf")


class ConfirmRunner:
    """The engine's confirm hook: ``runner(incident, ranking, ts, changes) -> ranking``.

    Parameters
    ----------
    source
        Where the tests' data come from; None queues the tests instead (live: :meth:`take`).
    topology
        The services (for the recommendation when the top candidate changes).
    step
        Seconds between samples: an inconclusive test is re-run at most once a step.
    policy
        Budgets.
    """

    def __init__(self, source: ConfirmSource | None, topology: Topology, step: float,
                 policy: ConfirmPolicy | None = None) -> None:
        self.source = source
        self.topology = topology
        self.policy = policy or ConfirmPolicy()
        self.every = max(self.policy.every, step)
        self._tests: dict[str, _Tests] = {}

    def __call__(self, inc: Incident, ranking: Ranking, ts: float, changes: Sequence[Change]) -> Ranking:
        tests = self._tests.setdefault(inc.id, _Tests())
        tests.fresh = False
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
            if cand.cause in tests.queued or not self._due(prev, ts, tests):
                continue
            change = by_id.get(cand.cause.ref) if cand.cause.type is CauseType.CHANGE else None
            plan = plan_test(cand, change, signals, inc.estimated_onset, rises)
            if plan is None:
                continue
            tests.queries += 1
            tests.last = ts
            looks = tests.looks[cand.cause] = tests.looks.get(cand.cause, 0) + 1
            if self.source is None:
                tests.queued[cand.cause] = Due(inc.id, plan, ts, looks)
                continue
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

    def take(self, limit: int) -> list[Due]:
        """Up to ``limit`` queued tests, oldest first (they stay queued until :meth:`record`)."""
        due = sorted((d for t in self._tests.values() for d in t.queued.values()), key=lambda d: (d.until, d.incident))
        return due[:limit]

    def record(self, due: Due, result: ConfirmResult) -> None:
        """A queued test's outcome: kept for the next ranking of its incident, which comes at the next flush."""
        tests = self._tests.get(due.incident)
        if tests is None or tests.queued.get(due.plan.cause) != due:
            return  # forgotten, or superseded
        del tests.queued[due.plan.cause]
        tests.results[due.plan.cause] = result
        tests.fresh = True

    def results(self, incident_id: str) -> list[ConfirmResult]:
        tests = self._tests.get(incident_id)
        return list(tests.results.values()) if tests is not None else []

    def waiting(self, inc: Incident, ts: float) -> bool:
        """Should this incident be re-ranked now: an outcome came in, or a test waiting for data is due?"""
        tests = self._tests.get(inc.id)
        if tests is not None and tests.fresh:
            return True
        if tests is None or tests.queries >= self.policy.max_queries:
            return False
        return any(r.verdict is Verdict.INCONCLUSIVE and r.signals and ts - r.at >= self.every
                   and cause not in tests.queued for cause, r in tests.results.items())

    def keep(self, incident_ids: Collection[str]) -> None:
        """Forget the tests of incidents the engine no longer holds."""
        for gone in [i for i in self._tests if i not in incident_ids]:
            del self._tests[gone]

    def forget(self, incident_id: str) -> None:
        self._tests.pop(incident_id, None)
