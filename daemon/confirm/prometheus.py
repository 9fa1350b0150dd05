"""Confirm tests' data from Prometheus: the symptom of the treated arm against the control, side by side.

For a deploy (or a config change that restarted the pods) the arms are the pods of the new and
the old ReplicaSet, which the Kubernetes watch names (:class:`~daemon.confirm.pods.PodIndex`):
the template's error ratio, latency quantile and request rate, restricted to each arm's pods by
the ``pod`` label. Where the metrics carry a version label (``version_label``), the arms are its
values instead (the change's ``to_revision`` and ``from_revision``). Feature flags, config hashes
(when the pods cannot tell), dependencies and traffic split by the labels ``confirm.labels`` names
(:mod:`daemon.confirm.arms`). The queries are the signal templates' own (``http``, ``spring``,
``istio``, ``ingress_nginx``, ``grpc``) with one more matcher.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from correlators.confirm import ArmData, ConfirmData, ConfirmPlan, TestKind

from ..sources.templates import expand
from .arms import Arms, label_arms, matcher, regex, surging_route
from .pods import PodIndex

__all__ = ["DEFAULT_LABELS", "PerVersionQueries", "PrometheusConfirmSource"]

QueryRange = Callable[[str, float, float], Awaitable[list[dict[str, Any]]]]
"""``(query, start, end) -> matrix``: a Prometheus range query at the source's step."""

DEFAULT_LABELS: Mapping[str, str | None] = {"config_hash": "config_hash", "flag_variant": "feature_flag_result_variant",
                                            "callee": "service_peer_name", "route": "http_route"}
"""The plan's split -> the label that carries it (OpenTelemetry's attribute names as Prometheus writes them)."""

ROUTE_LOOKBACK = 600.0
"""Seconds before the onset the surging route's rise is measured from (at least ten steps)."""


@dataclass(frozen=True)
class PerVersionQueries:
    """The per-version query templates: a signal template, how it names services, and the labels
    that tell versions, flag variants, callees and routes apart (configurable: ``confirm`` in the config)."""

    template: str
    window: float
    service_label: str | None = None
    selector: str = ""
    quantile: float = 0.99
    pod_label: str = "pod"
    version_label: str | None = None
    labels: Mapping[str, str | None] = field(default_factory=lambda: dict(DEFAULT_LABELS))
    flag_on: str = "on"
    flag_off: str = "off"

    def queries(self, service: str | Sequence[str], matcher: str, *, by: str | None = None) -> dict[str, str]:
        """Signal name -> PromQL of one arm (``matcher`` selects its pods, version or variant). Over
        several services (a dependency's users) the sums span them all: one series per arm.

        >>> q = PerVersionQueries("http", 60.0).queries("checkout", 'pod=~"checkout-abc-1"')
        >>> q["request_rate"]
        'sum by (job) (rate(http_requests_total{job=~"checkout",pod=~"checkout-abc-1"}[60s]))'
        >>> PerVersionQueries("http", 60.0).queries(["a", "b"], 'peer="db"')["request_rate"]
        'sum (rate(http_requests_total{job=~"a|b",peer="db"}[60s]))'
        """
        services = [service] if isinstance(service, str) else list(service)
        if by is None and len(services) > 1:
            by = ""
        sel = ",".join(s for s in (self.selector.strip().strip("{}").strip(","), matcher) if s)
        return {s.name: s.query for s in expand(self.template, window=self.window, services=services,
                                                service_label=self.service_label, selector=sel,
                                                quantile=self.quantile, by=by)}


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
        The Kubernetes watch's pods (None: only a version label can split a deploy).
    namespace_of
        A service's namespace (the topology's).
    users_of
        The services that use or call a dependency (the topology's): whose calls a dependency test splits.
    """

    query_range: QueryRange
    queries: PerVersionQueries
    step: float
    pods: PodIndex | None = None
    namespace_of: Callable[[str], str] = field(default=lambda s: "")
    users_of: Callable[[str], Sequence[str]] = field(default=lambda s: ())

    def _by_pods(self, plan: ConfirmPlan) -> tuple[Arms | None, str]:
        """The pods of the new and the old ReplicaSet (or the version label's values), or why not."""
        q = self.queries
        if q.version_label and plan.kind is TestKind.VERSION and plan.new and plan.old:
            return Arms(plan.new, matcher(q.version_label, "=", plan.new), plan.old,
                        matcher(q.version_label, "=", plan.old), (plan.service,),
                        f"the {q.version_label} label of these versions", by_version=True), ""
        if self.pods is None:
            return None, ("no per-version series: no version label configured and no kubernetes watch to tell "
                          "the new pods from the old")
        split = self.pods.split(self.namespace_of(plan.service), plan.service, plan.since)
        if split is None:
            return None, (f"no per-version series: the kubernetes watch saw no new and old ReplicaSet of "
                          f"{plan.service} around the change")
        return Arms(split.new_hash, f'{q.pod_label}=~"{regex(split.new_pods)}"', split.old_hash,
                    f'{q.pod_label}=~"{regex(split.old_pods)}"', (plan.service,),
                    f"the {q.pod_label} label of these pods", by_version=True), ""

    async def _by_route(self, plan: ConfirmPlan, until: float) -> tuple[Arms | None, str]:
        """The route whose rate rose most since the onset against the others (one grouped query to find it)."""
        label = self.queries.labels.get(plan.split)
        if not label:
            return None, (f"no per-{plan.split} series: confirm.labels.{plan.split} is not set "
                          f"(the label of the metrics that names it)")
        rate = self.queries.queries(plan.service, "", by=label)["request_rate"]
        start = plan.onset - max(ROUTE_LOOKBACK, 10 * self.step)
        route, why = surging_route(await self.query_range(rate, start, until), label, plan.onset)
        if route is None:
            return None, f"no per-{plan.split} series: Prometheus has {why} for {plan.service} ({rate})"
        return Arms(route, matcher(label, "=", route), "the other routes", f'{matcher(label, "!=", route)},{label}!=""',
                    (plan.service,), f"the {label} label"), ""

    async def _arms(self, plan: ConfirmPlan, until: float) -> tuple[Arms | None, str]:
        """Treated and control of ``plan``, or why they cannot be told apart (the reason names the label)."""
        q = self.queries
        if plan.kind is TestKind.VERSION:
            return self._by_pods(plan)
        if plan.kind is TestKind.TRAFFIC:
            return await self._by_route(plan, until)
        if plan.kind is TestKind.CONFIG:
            arms, why = self._by_pods(plan)
            if arms is not None:
                return arms, ""
            by_label, why_not = label_arms(plan, q.labels)
            return (by_label, "") if by_label is not None else (None, "; ".join(w for w in (why, why_not) if w))
        users = sorted(set(self.users_of(plan.service)) - {plan.service}) if plan.kind is TestKind.DEPENDENCY else []
        return label_arms(plan, q.labels, flag_on=q.flag_on, flag_off=q.flag_off, users=users)

    async def fetch(self, plan: ConfirmPlan, until: float) -> ConfirmData:
        arms, why = await self._arms(plan, until)
        if arms is None:
            return ConfirmData("", self.step, missing=why)
        start = plan.since - self.step
        wanted = set(plan.signals) | {"request_rate"}
        out: list[ArmData] = []
        shown = ""
        for label, match in ((arms.new_label, arms.new_match), (arms.old_label, arms.old_match)):
            queries = {k: v for k, v in self.queries.queries(arms.services, match).items() if k in wanted}
            shown = shown or "; ".join(queries[k] for k in sorted(queries) if k != "request_rate" or len(queries) == 1)
            values = {name: _points(await self.query_range(query, start, until)) for name, query in queries.items()}
            rate = values.pop("request_rate", [])
            if "request_rate" in plan.signals:
                values["request_rate"] = rate
            out.append(ArmData(label, values, rate))
        query = f"{shown} (new: {arms.new_match}; old: {arms.old_match})"
        if not any(out[0].values.values()) or not any(out[1].values.values()):
            word = "version" if arms.by_version else plan.split
            return ConfirmData(query, self.step, missing=f"no per-{word} series: Prometheus has no "
                                                          f"{', '.join(arms.services)} series with {arms.what}")
        return ConfirmData(query, self.step, out[0], out[1])
