"""The one policy builder: grouping and ranking windows from the config and the sampling step.

``run``, ``demo``, ``replay``, the backtest and an :class:`~daemon.core.engine.Engine` built without
policies all call :func:`policy`, so that replay figures are figures of ``run`` and no other module
holds a default window. Windows scale with the step (sets go from 15 s to 5 min between samples);
``detection`` in the config overrides the grouping window (``detection.group_window``: the
:attr:`~correlators.incidents.GroupingPolicy.window`), the confidence a page needs
(``detection.page_min_confidence``: ``min_confidence``), and the impact bars (see
:mod:`correlators.impact` and docs/paging.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from correlators.impact import DEFAULT_BARS, Bar, ImpactPolicy
from correlators.incidents import GroupingPolicy
from correlators.ranking import RankingPolicy
from correlators.signals import SignalRole

if TYPE_CHECKING:
    from ..config import Config, DetectionConfig, SignalConfig

__all__ = ["DEFAULT_STEP", "Policies", "impact_of", "policy", "step_of"]

DEFAULT_STEP = 30.0
"""Seconds between samples when no Prometheus section says (probes, webhooks and Kubernetes only)."""


@dataclass(frozen=True)
class Policies:
    grouping: GroupingPolicy
    ranking: RankingPolicy


def impact_of(detection: DetectionConfig | None, signals: list[SignalConfig] | None = None) -> ImpactPolicy:
    """The impact bars of a config: defaults per role, ``detection.impact`` over them, overrides per
    service and signal, signal roles from ``signals[].role`` and ``detection.roles``, and which way each
    signal hurts from ``signals[].bad_direction`` (unset: :func:`correlators.signals.default_bad_direction`)."""
    bars = dict(DEFAULT_BARS)
    overrides: dict[tuple[str, str], Bar] = {}
    roles = {s.name: SignalRole(s.role) for s in signals or [] if s.role is not None}
    bad = {s.name: s.bad_direction for s in signals or [] if s.bad_direction is not None}
    if detection is not None:
        for role, cfg in detection.impact.items():
            bars[SignalRole(role)] = cfg.bar(bars.get(SignalRole(role), Bar()))
        for o in detection.impact_overrides:
            base = bars.get(SignalRole(o.role) if o.role else roles.get(o.signal) or SignalRole.OTHER, Bar())
            overrides[(o.service, o.signal)] = o.bar(base)
        roles.update({name: SignalRole(r) for name, r in detection.roles.items()})
    return ImpactPolicy(bars=bars, overrides=overrides, roles=roles, bad_directions=bad)


def step_of(config: Config | None) -> float:
    """The sampling step of a config: ``prometheus.step``, or :data:`DEFAULT_STEP` without Prometheus."""
    return config.prometheus.step if config is not None and config.prometheus is not None else DEFAULT_STEP


def policy(config: Config | None, step: float) -> Policies:
    """Grouping and ranking for a ``config`` (``None``: the defaults, as a scenario replays) at a
    sampling ``step`` (seconds).

    >>> p = policy(None, 30.0)
    >>> p.grouping.window, p.grouping.reopen_within, p.ranking.tolerance
    (600.0, 600.0, 90.0)
    >>> policy(None, 300.0).grouping.window
    1800.0
    """
    return _policies(step, config.detection if config is not None else None,
                     config.all_signals() if config is not None else None)


def _policies(step: float, detection: DetectionConfig | None, signals: list[SignalConfig] | None) -> Policies:
    window = max(600.0, 6 * step)
    min_confidence = 0.5
    if detection is not None:
        window = detection.group_window if detection.group_window is not None else window
        min_confidence = detection.page_min_confidence
    impact = impact_of(detection, signals)
    return Policies(
        grouping=GroupingPolicy(window=window, reopen_within=max(600.0, 6 * step),
                                traffic_memory=max(1800.0, 20 * step), min_confidence=min_confidence,
                                max_span=max(3600.0, 24 * step), quiet_gap=max(1800.0, 12 * step),
                                evidence_within=120.0, impact=impact),
        ranking=RankingPolicy(tolerance=max(90.0, 3 * step), lag_scale=max(600.0, 4 * step),
                              slow_lag_scale=max(3600.0, 12 * step), lookback=max(7200.0, 40 * step),
                              roles=impact.roles),
    )
