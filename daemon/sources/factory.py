"""Build the configured sources."""

from __future__ import annotations

from ..config import Config
from .base import Source, SourceStatus

__all__ = ["build_sources"]


def build_sources(cfg: Config) -> tuple[list[Source], list[SourceStatus]]:
    sources: list[Source] = []
    statuses: list[SourceStatus] = []
    if cfg.prometheus is not None and cfg.signals:
        from .prometheus import PrometheusSource
        st = SourceStatus("prometheus", stale_after=max(300.0, 5 * cfg.prometheus.step))
        sources.append(PrometheusSource(cfg.prometheus, cfg.signals, st))
        statuses.append(st)
    if cfg.probes:
        from .probes import ProbeSource
        st = SourceStatus("probes", stale_after=max(300.0, 5 * max(p.interval for p in cfg.probes)))
        sources.append(ProbeSource(cfg.probes, st))
        statuses.append(st)
    return sources, statuses
