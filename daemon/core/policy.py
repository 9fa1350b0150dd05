"""The one policy builder: grouping and ranking windows from the config and the sampling step.

``run``, ``demo``, ``replay`` and the backtest all call :func:`policies`, so that replay figures
are figures of ``run``. Windows scale with the step (sets go from 15 s to 5 min between samples);
``detection`` in the config overrides the grouping window, the confidence a page needs, and the
impact bars (see :mod:`correlators.impact` and docs/paging.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from correlators.impact import DEFAULT_BARS, Bar, ImpactPolicy
from correlators.incidents import GroupingPolicy
from correlators.ranking import RankingPolicy
from correlators.signals import SignalRole

if TYPE_CHECKING:
    from ..config import DetectionConfig, SignalConfig

__all__ = ["Policies", "impact_of", "policies"]


@dataclass(frozen=True)
class Policies:
    grouping: GroupingPolicy
    ranking: RankingPolicy


def impact_of(detection: DetectionConfig | None, signals: list[SignalConfig] | None = None) -> ImpactPolicy:
    """The impact bars of a config: defaults per role, ``detection.impact`` over them, overrides per
    service and signal, and signal roles from ``signals[].role``."""
    bars = dict(DEFAULT_BARS)
    overrides: dict[tuple[str, str], Bar] = {}
    roles = {s.name: SignalRole(s.role) for s in signals or [] if s.role is not None}
    if detection is not None:
        for role, cfg in detection.impact.items():
            bars[SignalRole(role)] = cfg.bar(bars.get(SignalRole(role), Bar()))
        for o in detection.impact_overrides:
            base = bars.get(SignalRole(o.role) if o.role else roles.get(o.signal) or SignalRole.OTHER, Bar())
            overrides[(o.service, o.signal)] = o.bar(base)
        roles.update({name: SignalRole(r) for name, r in detection.roles.items()})
    return ImpactPolicy(bars=bars, overrides=overrides, roles=roles)


def policies(step: float, detection: DetectionConfig | None = None,
             signals: list[SignalConfig] | None = None) -> Policies:
    """Grouping and ranking for a sampling ``step`` (seconds) and an optional ``detection`` config.

    >>> p = policies(30.0)
    >>> p.grouping.window, p.grouping.reopen_within, p.ranking.tolerance
    (600.0, 600.0, 90.0)
    >>> policies(300.0).grouping.window
    1800.0
    """
    window = max(600.0, 6 * step)
    min_confidence = 0.5
    if detection is not None:
        window = detection.group_window if detection.group_window is not None else window
        min_confidence = detection.page_min_confidence
    return Policies(
        grouping=GroupingPolicy(window=window, reopen_within=max(600.0, 6 * step),
                                traffic_memory=max(1800.0, 20 * step), min_confidence=min_confidence,
                                max_span=max(3600.0, 24 * step), quiet_gap=max(1800.0, 12 * step),
                                impact=impact_of(detection, signals)),
        ranking=RankingPolicy(tolerance=max(90.0, 3 * step), lag_scale=max(600.0, 4 * step),
                              slow_lag_scale=max(3600.0, 12 * step), lookback=max(7200.0, 40 * step)),
    )
