"""Build the live confirm tests from the config: the runner, its Prometheus source and the pods."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from correlators.types import Topology

from ..config import Config, PrometheusConfig, rate_window
from ..sources.base import Source
from .live import LiveConfirm
from .pods import PodIndex
from .prometheus import PerVersionQueries, PrometheusConfirmSource, QueryRange
from .runner import ConfirmPolicy, ConfirmRunner

__all__ = ["build_confirm", "range_query"]


def range_query(cfg: PrometheusConfig, client: Any = None) -> QueryRange:
    """An async range query at the config's step: the blocking client in a worker thread."""
    from ..sources.prometheus import classify, connect

    state: dict[str, Any] = {"client": client}

    def run(query: str, start: float, end: float) -> list[dict[str, Any]]:
        if state["client"] is None:
            state["client"] = connect(cfg)
        try:
            got = state["client"].custom_query_range(
                query, start_time=datetime.fromtimestamp(start, UTC), end_time=datetime.fromtimestamp(end, UTC),
                step=f"{cfg.step:g}s", params={"timeout": f"{cfg.timeout:g}s"})
        except Exception as e:
            raise classify(e) from e
        return list(got)

    async def query_range(query: str, start: float, end: float) -> list[dict[str, Any]]:
        return await asyncio.to_thread(run, query, start, end)
    return query_range


def build_confirm(cfg: Config, sources: Sequence[Source], topology: Topology, *,
                  query_range: QueryRange | None = None) -> LiveConfirm | None:
    """The live confirm tests, or None when they are off or cannot run (no template, or nothing to
    split by: no Kubernetes watch with pods, no version label and every ``confirm.labels`` entry null)."""
    conf = cfg.confirm
    if not conf.enabled or cfg.prometheus is None or not cfg.templates:
        return None
    tmpl = next((t for t in cfg.templates if conf.template in (None, t.template)), None)
    if tmpl is None:
        return None
    pods: PodIndex | None = None
    kube = next((s for s in sources if s.name == "kubernetes" and hasattr(s, "pods")), None)
    if kube is not None and cfg.kubernetes is not None and "pods" in cfg.kubernetes.watch:
        pods = PodIndex(cfg.kubernetes.service_labels)
        kube.pods = pods
    labels = conf.labels.model_dump()
    if pods is None and conf.version_label is None and not any(labels.values()):
        return None
    prom = cfg.prometheus
    queries = PerVersionQueries(tmpl.template, tmpl.window or rate_window(prom.step, prom.scrape_interval),
                                tmpl.service_label, tmpl.selector, tmpl.quantile, conf.pod_label, conf.version_label,
                                labels, conf.flag_on, conf.flag_off)

    def users_of(dependency: str) -> list[str]:
        return sorted(topology.users_of(dependency) | topology.callers(dependency))
    source = PrometheusConfirmSource(query_range or range_query(prom), queries, prom.step, pods, topology.namespace,
                                     users_of)
    runner = ConfirmRunner(None, topology, prom.step, ConfirmPolicy(top=conf.top, max_queries=conf.max_queries))
    return LiveConfirm(runner, source, step=prom.step, timeout=conf.timeout, concurrency=conf.concurrency)
