"""Where a confirm test's numbers come from: one small Protocol, and the replay's implementation.

The live daemon fetches from Prometheus (by ``pod`` grouped by the pod-template-hash the
Kubernetes watch reports, or by a ``version`` label); replay reads a scenario's per-version
series. Both answer :meth:`ConfirmSource.fetch` with the two arms, the query they ran, or why
there is nothing to compare.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Protocol

from correlators.confirm import ArmData, ConfirmData, ConfirmPlan

from .labelled import LabelledSample

__all__ = ["AsyncSeries", "ConfirmSource", "SeriesConfirmSource"]


class ConfirmSource(Protocol):
    """Fetch the data of a confirm test, as known at ``until`` (event time)."""

    def fetch(self, plan: ConfirmPlan, until: float) -> ConfirmData: ...


_Arms = dict[str, dict[str, list[tuple[float, float]]]]  # label value -> signal -> points


class SeriesConfirmSource:
    """A confirm source over labelled series held in memory (a scenario's ``labels`` rows).

    Parameters
    ----------
    samples
        The labelled samples, in time order.
    step
        Seconds between samples.

    Examples
    --------
    >>> from correlators.confirm import ConfirmPlan, TestKind
    >>> from correlators.types import Cause, CauseType
    >>> rows = [LabelledSample(t, "api", "error_ratio", {"version": v}, e)
    ...         for t in (0.0, 30.0, 60.0) for v, e in (("1", 0.0), ("2", 0.2)) if v == "1" or t > 0]
    >>> src = SeriesConfirmSource(rows, 30.0)
    >>> plan = ConfirmPlan(Cause(CauseType.CHANGE, "c"), TestKind.VERSION, "api", ("error_ratio",), "version",
    ...                    "", "", "new pods", "old pods", 20.0, 40.0)
    >>> d = src.fetch(plan, until=60.0)
    >>> d.new.label, d.old.label, d.new.values["error_ratio"], d.query
    ('2', '1', [(30.0, 0.2), (60.0, 0.2)], 'metrics.csv: error_ratio of api by version (2 vs 1)')
    >>> src.fetch(plan, until=20.0).missing
    'no series of new pods (no version of api began at the change)'
    >>> src.fetch(ConfirmPlan(plan.cause, TestKind.VERSION, "web", ("error_ratio",), "version", "", "", "n", "o",
    ...                       0.0, 0.0), 60.0).missing
    'no per-version series: the metrics of web carry no version label'
    """

    def __init__(self, samples: Iterable[LabelledSample], step: float) -> None:
        self.step = step
        self._index: dict[tuple[str, str], _Arms] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
        self.add(samples)

    def add(self, samples: Iterable[LabelledSample]) -> None:
        """More samples, in time order (a live feed: the demo shop's)."""
        for s in samples:
            for key, value in s.labels.items():
                self._index[(s.service, key)][value][s.signal].append((s.ts, s.value))

    def prune(self, before: float) -> None:
        """Forget the samples older than ``before`` (a live feed's memory stays bounded)."""
        for arms in self._index.values():
            for value in list(arms):
                for signal in list(arms[value]):
                    kept = [p for p in arms[value][signal] if p[0] >= before]
                    if kept:
                        arms[value][signal] = kept
                    else:
                        del arms[value][signal]
                if not arms[value]:
                    del arms[value]
        for key in [k for k, arms in self._index.items() if not arms]:
            del self._index[key]

    def __bool__(self) -> bool:
        return bool(self._index)

    def fetch(self, plan: ConfirmPlan, until: float) -> ConfirmData:
        what = ",".join(plan.signals)
        arms = self._index.get((plan.service, plan.split))
        query = f"metrics.csv: {what} of {plan.service} by {plan.split}"
        if not arms:
            return ConfirmData(query, self.step, missing=f"no per-version series: the metrics of {plan.service} "
                                                          f"carry no {plan.split} label")
        firsts = {v: min((p[0] for pts in sig.values() for p in pts if p[0] <= until), default=None)
                  for v, sig in arms.items()}
        seen = {v: t for v, t in firsts.items() if t is not None}
        new = plan.new if plan.new in seen else self._began_at(seen, plan.since, arms, until)
        if new is None:
            return ConfirmData(query, self.step, missing=f"no series of {plan.new_name} (no {plan.split} of "
                                                          f"{plan.service} began at the change)")
        old = plan.old if plan.old in seen and plan.old != new else self._before(seen, plan.since, new)
        if old is None:
            return ConfirmData(f"{query} ({new})", self.step,
                               missing=f"no series of {plan.old_name}: no other {plan.split} of {plan.service} "
                                       f"ran beside {new}")
        return ConfirmData(f"{query} ({new} vs {old})", self.step, self._arm(arms, new, until, plan.signals),
                           self._arm(arms, old, until, plan.signals))

    def _began_at(self, seen: dict[str, float], since: float, arms: _Arms, until: float) -> str | None:
        """The value whose first sample came with the change (from half a step before it to two steps
        or two minutes after; a later version is another change's). Of several (a split measured only
        while it runs), the one whose traffic grew: the new ReplicaSet scales up, the old one down."""
        near = [v for v, t in seen.items() if since - self.step / 2 <= t <= since + max(2 * self.step, 120.0)]
        if len(near) <= 1:
            return near[0] if near else None

        def growth(v: str) -> float:
            rate = [p for p in arms[v].get("request_rate", []) if p[0] <= until]
            return rate[-1][1] - rate[0][1] if len(rate) > 1 else 0.0
        return max(sorted(near), key=growth)

    @staticmethod
    def _before(seen: dict[str, float], since: float, new: str) -> str | None:
        """The latest value already running before the change; else the first other value seen
        (a split whose arms are only measured while it runs)."""
        older = [(t, v) for v, t in seen.items() if v != new and t < since]
        if older:
            return max(older)[1]
        others = [(t, v) for v, t in seen.items() if v != new and t <= seen[new]]
        return min(others)[1] if others else None

    @staticmethod
    def _arm(arms: _Arms, value: str, until: float, signals: tuple[str, ...]) -> ArmData:
        series = arms[value]
        values = {s: [p for p in series.get(s, []) if p[0] <= until] for s in signals}
        rate = [p for p in series.get("request_rate", []) if p[0] <= until]
        return ArmData(value, values, rate)


class AsyncSeries:
    """A :class:`SeriesConfirmSource` behind the live task's async interface (the demo's)."""

    def __init__(self, inner: SeriesConfirmSource) -> None:
        self.inner = inner

    async def fetch(self, plan: ConfirmPlan, until: float) -> ConfirmData:
        return self.inner.fetch(plan, until)
