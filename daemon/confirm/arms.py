"""The two arms of a live confirm test: which series are treated, which are control, and why not.

Each kind of plan (:class:`~correlators.confirm.TestKind`) splits the symptom by a label of the
user's metrics, named per split in the config (``confirm.labels``; the plan's split names are
``config_hash``, ``flag_variant``, ``callee``, ``route``):

- feature flag: ``L="<on>"`` against ``L="<off>"`` at the flag's service;
- config change (when the pods cannot tell): ``L="<to_hash>"`` against ``L="<from_hash>"``;
- dependency: over the dependency's *users* (not the dependency), their calls to it,
  ``L="<dep>"``, against their calls elsewhere, ``L!="<dep>",L!=""`` (a series without the label is
  not a call elsewhere);
- traffic: the route whose request rate rose most since the onset, ``L="<route>"``, against the
  other routes, ``L!="<route>",L!=""`` (:func:`surging_route` picks it from one grouped query).

A split that cannot be made (no label configured, the change names no hashes, no users known)
says why, naming the label or the config key: the test is then inconclusive, never missing.
Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from correlators.confirm import ConfirmPlan, TestKind

__all__ = ["Arms", "label_arms", "matcher", "regex", "surging_route"]


def regex(values: Sequence[str]) -> str:
    """An alternation of exact values for ``=~`` (dots and quotes escaped)."""
    return "|".join(v.replace("\\", "\\\\").replace(".", "\\\\.").replace('"', '\\"') for v in values)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def matcher(label: str, op: str, value: str) -> str:
    """``label op "value"`` with the value quoted for PromQL.

    >>> matcher("route", "!=", 'a"b')
    'route!="a\\\\"b"'
    """
    return f'{label}{op}"{_quote(value)}"'


@dataclass(frozen=True, slots=True)
class Arms:
    """Treated and control: their labels (as shown), their extra matchers, whose series, and what
    splits them (for the reason when Prometheus has no such series)."""

    new_label: str
    new_match: str
    old_label: str
    old_match: str
    services: tuple[str, ...]
    what: str
    """``the pod label of these pods``, ``feature_flag_result_variant="on" and ="off"``."""
    by_version: bool = False
    """Split by the pods or the version label (a deploy's split), not by ``confirm.labels``."""


def label_arms(plan: ConfirmPlan, labels: Mapping[str, str | None], *, flag_on: str = "on", flag_off: str = "off",
               users: Sequence[str] = ()) -> tuple[Arms | None, str]:
    """The arms of a flag, config or dependency plan split by its configured label, or why not.

    Traffic needs a query first (:func:`surging_route`); a deploy splits by pods or ``version_label``.

    >>> from correlators.types import Cause, CauseType
    >>> plan = ConfirmPlan(Cause(CauseType.DEPENDENCY, "pay-db"), TestKind.DEPENDENCY, "pay-db", ("error_ratio",),
    ...                    "callee", "pay-db", "", "calls to pay-db", "calls elsewhere", 10.0, 10.0)
    >>> arms, _ = label_arms(plan, {"callee": "service_peer_name"}, users=["orders", "billing"])
    >>> arms.new_match, arms.old_match, arms.services
    ('service_peer_name="pay-db"', 'service_peer_name!="pay-db",service_peer_name!=""', ('billing', 'orders'))
    >>> label_arms(plan, {"callee": None}, users=["orders"])[1]
    'no per-callee series: confirm.labels.callee is not set (the label of the metrics that names it)'
    """
    label = labels.get(plan.split)
    if not label:
        return None, (f"no per-{plan.split} series: confirm.labels.{plan.split} is not set "
                      f"(the label of the metrics that names it)")
    if plan.kind is TestKind.FLAG:
        return Arms(flag_on, matcher(label, "=", flag_on), flag_off, matcher(label, "=", flag_off), (plan.service,),
                    f'{label}="{flag_on}" and {label}="{flag_off}"'), ""
    if plan.kind is TestKind.CONFIG:
        if not plan.new or not plan.old:
            return None, (f"no per-{plan.split} series: the change names no from_hash and to_hash to compare "
                          f"by the {label} label")
        return Arms(plan.new, matcher(label, "=", plan.new), plan.old, matcher(label, "=", plan.old),
                    (plan.service,), f'{label}="{plan.new}" and {label}="{plan.old}"'), ""
    if plan.kind is TestKind.DEPENDENCY:
        if not users:
            return None, (f"no per-{plan.split} series: no service is known to use {plan.service} "
                          f"(services[].dependencies or calls)")
        dep = plan.new or plan.service
        return Arms(dep, matcher(label, "=", dep), "elsewhere", f'{matcher(label, "!=", dep)},{label}!=""',
                    tuple(sorted(users)), f'the {label} label ({label}="{dep}" and others)'), ""
    return None, f"no per-{plan.split} series: the {plan.kind.value} test does not split by a label"


def surging_route(matrix: list[dict[str, Any]], label: str, onset: float) -> tuple[str | None, str]:
    """The value of ``label`` whose request rate rose most from before ``onset`` to after it, or why none.

    ``matrix`` is a range query's answer grouped by ``label``; a value first seen after the onset
    rose from nothing.

    >>> m = [{"metric": {"route": "/a"}, "values": [[0, "5"], [60, "5"]]},
    ...      {"metric": {"route": "/b"}, "values": [[0, "5"], [60, "40"]]}]
    >>> surging_route(m, "route", 30.0)
    ('/b', '')
    >>> surging_route([{"metric": {}, "values": [[0, "5"]]}], "route", 30.0)[1]
    'no series with the route label'
    """
    rises: dict[str, float] = {}
    for series in matrix:
        value = str((series.get("metric") or {}).get(label, ""))
        if not value:
            continue
        before: list[float] = []
        after: list[float] = []
        for ts, raw in series.get("values", []):
            try:
                v = float(raw)
            except (TypeError, ValueError):
                continue
            if math.isfinite(v):
                (after if float(ts) >= onset else before).append(v)
        if after:
            rises[value] = sum(after) / len(after) - (sum(before) / len(before) if before else 0.0)
    if not rises:
        return None, f"no series with the {label} label"
    if len(rises) < 2:
        return None, f"only one {label} ({next(iter(rises))}) had requests: nothing to compare it with"
    return max(sorted(rises), key=lambda v: rises[v]), ""
