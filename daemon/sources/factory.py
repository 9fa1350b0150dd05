"""Build the configured sources."""

from __future__ import annotations

from typing import Any

from ..config import Config
from .base import Source, SourceStatus

__all__ = ["build_sources"]


def build_sources(cfg: Config, store: Any = None) -> tuple[list[Source], list[SourceStatus]]:
    """One source per configured input; ``store`` (optional) keeps the sources' cursors."""
    sources: list[Source] = []
    statuses: list[SourceStatus] = []
    signals = cfg.all_signals()
    if cfg.prometheus is not None and (signals or cfg.health_queries):
        from .prometheus import PrometheusSource
        st = SourceStatus("prometheus", stale_after=max(120.0, 3 * cfg.prometheus.step + cfg.prometheus.timeout))
        sources.append(PrometheusSource(cfg.prometheus, signals, st, health=cfg.health_queries,
                                          cursor=None if store is None else store.cursors))
        statuses.append(st)
    if cfg.probes:
        from .probes import ProbeSource
        st = SourceStatus("probes", stale_after=max(300.0, 5 * max(p.interval for p in cfg.probes)))
        sources.append(ProbeSource(cfg.probes, st, concurrency=cfg.probe_concurrency))
        statuses.append(st)
    if cfg.kubernetes is not None:
        from .kube import KubernetesSource
        st = SourceStatus("kubernetes", stale_after=cfg.kubernetes.stale_after)
        sources.append(KubernetesSource(cfg.kubernetes, st, cursor=None if store is None else store.checkpoints))
        statuses.append(st)
    return sources, statuses
