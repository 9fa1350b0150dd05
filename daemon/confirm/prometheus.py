"""Confirm tests' data from Prometheus: the symptom of the new pods against the old, side by side.

For a deploy (or a config change that restarted the pods) the arms are the pods of the new and
the old ReplicaSet, which the Kubernetes watch names (:class:`~daemon.confirm.pods.PodIndex`):
the template's error ratio, latency quantile and request rate, restricted to each arm's pods by
the ``pod`` label. Where the metrics carry a version label (``version_label``), the arms are its
values instead (the change's ``to_revision`` and ``from_revision``). The queries are the signal
templates' own (``http``, ``spring``, ``istio``, ``ingress_nginx``, ``grpc``) with one more matcher.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from correlators.confirm import ArmData, ConfirmData, ConfirmPlan, TestKind

from ..sources.templates import expand
from .pods import PodIndex

__all__ = ["PerVersionQueries", "PrometheusConfirmSource"]

QueryRange = Callable[[str, float, float], Awaitable[list[dict[str, Any]]]]
"""``(query, start, end) -> matrix``: a Prometheus range query at the source's step."""


def _regex(values: tuple[str, ...]) -> str:
    return "|".join(v.replace("\\", "\\\\").replace(".", "\\\\.").replace('"', '\\"') for v in values)


@dataclass(frozen=True)
class PerVersionQueries:
    """The per-version query templates: a signal template, how it names services, and the labels
    that tell versions apart (configurable: ``confirm`` in the config)."""

    template: str
    window: float
    service_label: str | None = None
    selector: str = ""
    quantile: float = 0.99
    pod_label: str = "pod"
    version_label: str | None = None

    def queries(self, service: str, matcher: str) -> dict[str, str]:
        """Signal name -> PromQL of one arm (``matcher`` selects its pods or version).

        >>> q = PerVersionQueries("http", 60.0).queries("checkout", 'pod=~"checkout-abc-1"')
        >>> q["request_rate"]
        'sum by (job) (rate(http_requests_total{job=~"checkout",pod=~"checkout-abc-1"}[60s]))'
        """
        sel = ",".join(s for s in (self.selector.strip().strip("{}").strip(","), matcher) if s)
        return {s.name: s.query for s in expand(self.template, window=self.window, services=[service],
                                                service_label=self.service_label, selector=sel,
                                                quantile=self.quantile)}


def _points(matrix: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """The one series of an arm's query (summed by the service label), as (ts, value)."""
    out: dict[float, float] = {}
    for series in matrix:
        for ts, raw in series.get("values", []):
            try:
                v = float(raw)
            except (TypeError, ValueError):
                continue
            if math.isfinite(v):
                out[float(ts)] = out.get(float(ts), 0.0) + v
    return sorted(out.items())


@dataclass
class PrometheusConfirmSource:
    """Fetches both arms of a plan from Prometheus (async: the live task awaits it).

    Parameters
    ----------
    query_range
        A range query at ``step`` (runs the blocking client in a thread).
    queries
        The per-version query templates.
    step
        The range queries' step.
    pods
        The Kubernetes watch's pods (None: only a version label can split).
    namespace_of
        A service's namespace (the topology's).
    """

    query_range: QueryRange
    queries: PerVersionQueries
    step: float
    pods: PodIndex | None = None
    namespace_of: Callable[[str], str] = field(default=lambda s: "")

    def _arms(self, plan: ConfirmPlan) -> tuple[tuple[str, str, str, str], str] | tuple[None, str]:
        """``((new label, new matcher, old label, old matcher), "")`` or ``(None, why not)``."""
        q = self.queries
        if plan.kind not in (TestKind.VERSION, TestKind.CONFIG):
            return None, f"no per-{plan.split} series: the {q.template} metrics carry no {plan.split} label"
        if q.version_label and plan.kind is TestKind.VERSION and plan.new and plan.old:
            return (plan.new, f'{q.version_label}="{plan.new}"', plan.old, f'{q.version_label}="{plan.old}"'), ""
        if self.pods is None:
            return None, ("no per-version series: no version label configured and no kubernetes watch to tell "
                          "the new pods from the old")
        split = self.pods.split(self.namespace_of(plan.service), plan.service, plan.since)
        if split is None:
            return None, (f"no per-version series: the kubernetes watch saw no new and old ReplicaSet of "
                          f"{plan.service} around the change")
        return ((split.new_hash, f'{q.pod_label}=~"{_regex(split.new_pods)}"',
                 split.old_hash, f'{q.pod_label}=~"{_regex(split.old_pods)}"'), "")

    async def fetch(self, plan: ConfirmPlan, until: float) -> ConfirmData:
        arms, why = self._arms(plan)
        if arms is None:
            return ConfirmData("", self.step, missing=why)
        new_label, new_match, old_label, old_match = arms
        start = plan.since - self.step
        wanted = set(plan.signals) | {"request_rate"}
        out: list[ArmData] = []
        shown = ""
        for label, matcher in ((new_label, new_match), (old_label, old_match)):
            queries = {k: v for k, v in self.queries.queries(plan.service, matcher).items() if k in wanted}
            shown = shown or "; ".join(queries[k] for k in sorted(queries) if k != "request_rate")
            values = {name: _points(await self.query_range(query, start, until)) for name, query in queries.items()}
            rate = values.pop("request_rate", [])
            if "request_rate" in plan.signals:
                values["request_rate"] = rate
            out.append(ArmData(label, values, rate))
        query = f"{shown} (new: {new_match}; old: {old_match})"
        if not any(out[0].values.values()) or not any(out[1].values.values()):
            return ConfirmData(query, self.step, missing=f"no per-version series: Prometheus has no {plan.service} "
                                                          f"series with the {self.queries.pod_label} label of "
                                                          f"these pods")
        return ConfirmData(query, self.step, out[0], out[1])
