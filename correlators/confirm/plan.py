"""The confirm test of a ranked candidate: which symptom to split, by what, and which arm is new.

A plan says what would confirm or rule out a candidate, independent of where the numbers come
from (a scenario's per-version series in replay, Prometheus live). Every kind of cause has its
own comparison, always of a *treated* arm against a *control* arm measured at the same time:

- deploy or rollback: the symptom of the changed service's pods by version (the new ReplicaSet's
  pod-template-hash, or a ``version``/image label), new pods against old while both run;
- config change: pods on the new ConfigMap hash against pods still on the old one;
- feature flag: requests by flag variant (OpenFeature's ``feature_flag_variant``), on against off;
- dependency: the users' errors on calls to the dependency against calls elsewhere;
- traffic: the surging route or client's share against the rest (load, not a change).

Side by side is the point: a fault elsewhere (the real cause of a coincident decoy deploy) hits
both arms alike, so only the candidate's own arm can differ.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from ..signals import SignalRole, role_of
from ..types import JSON, Candidate, Cause, CauseType, Change, ChangeKind

__all__ = ["DEFAULT_SYMPTOMS", "ConfirmPlan", "TestKind", "plan_test"]

DEFAULT_SYMPTOMS: tuple[str, ...] = ("error_ratio", "latency_p99_seconds")
"""The symptoms compared when the incident's own anomalies name none."""


class TestKind(enum.StrEnum):
    """The comparison a plan makes (one per kind of cause)."""

    __test__ = False  # not a pytest test class

    VERSION = "version"
    CONFIG = "config"
    FLAG = "flag"
    DEPENDENCY = "dependency"
    TRAFFIC = "traffic"


SPLIT_LABEL: dict[TestKind, str] = {
    TestKind.VERSION: "version",
    TestKind.CONFIG: "config_hash",
    TestKind.FLAG: "flag_variant",
    TestKind.DEPENDENCY: "callee",
    TestKind.TRAFFIC: "route",
}
"""The label each comparison splits the symptom by (a source maps it to its own label names)."""


@dataclass(frozen=True, slots=True)
class ConfirmPlan:
    """What to compare to confirm or rule out one candidate.

    Attributes
    ----------
    cause
        The candidate's cause.
    kind
        The comparison.
    service
        Whose symptom is split (the changed service, the dependency, the surging service).
    signals
        The symptom signals compared (error ratio, latency quantile ...).
    split
        The label the symptom is split by (``version``, ``config_hash``, ``flag_variant`` ...).
    new, old
        The label values of the treated and control arms; ``""`` when unknown (the source then
        takes the value that appeared at the change as new, and the one present before as old).
    new_name, old_name
        How a responder names the arms: ``new pods (revision 15)``, ``old (14)``.
    since
        When the treated arm began (the change's time).
    onset
        The incident's estimated onset.
    """

    cause: Cause
    kind: TestKind
    service: str
    signals: tuple[str, ...]
    split: str
    new: str
    old: str
    new_name: str
    old_name: str
    since: float
    onset: float
    rises: tuple[tuple[str, float], ...] = ()
    """How much each signal rose at ``service`` in the incident (a refutation must rule out that much)."""

    @property
    def summary(self) -> str:
        """``error ratio, latency p99 seconds of checkout: new pods (revision 15) against old (14)``."""
        what = ", ".join(s.replace("_", " ") for s in self.signals)
        return f"{what} of {self.service}: {self.new_name} against {self.old_name}"

    def to_json(self) -> JSON:
        return {"cause": self.cause.to_json(), "kind": self.kind.value, "service": self.service,
                "signals": list(self.signals), "split": self.split, "new": self.new, "old": self.old,
                "since": self.since, "summary": self.summary}


def _symptoms(signals: Sequence[str]) -> tuple[str, ...]:
    """The incident's symptom signals that a split can compare: errors and latency, not traffic."""
    got = sorted({s for s in signals if role_of(s) in (SignalRole.ERRORS, SignalRole.LATENCY)})
    return tuple(got) or DEFAULT_SYMPTOMS


def plan_test(candidate: Candidate, change: Change | None, signals: Sequence[str], onset: float,
              rises: Mapping[tuple[str, str], float] | None = None) -> ConfirmPlan | None:
    """The confirm test of ``candidate``, or None for "none of these" (nothing to split).

    Parameters
    ----------
    candidate
        A ranked candidate.
    change
        The change it blames (None for a dependency or traffic candidate).
    signals
        The signals of the incident's anomalies: the symptoms to compare.
    onset
        The incident's estimated onset.
    rises
        The rise of each ``(service, signal)`` in the incident (its anomalies' after minus before).

    Examples
    --------
    >>> from correlators.types import Candidate, Cause, CauseType, Change, ChangeKind
    >>> ch = Change("chg-1", 100.0, ChangeKind.DEPLOY, "checkout",
    ...             attributes={"from_revision": "14", "to_revision": "15"})
    >>> c = Candidate(1, Cause(CauseType.CHANGE, "chg-1"), 0.6, "I think ...", "", ())
    >>> p = plan_test(c, ch, ["error_ratio", "request_rate"], 160.0)
    >>> p.kind.value, p.split, p.new, p.old, p.signals
    ('version', 'version', '15', '14', ('error_ratio',))
    >>> p.summary
    'error ratio of checkout: new pods (revision 15) against old (14)'
    >>> flag = Change("chg-2", 100.0, ChangeKind.FEATURE_FLAG, "cart", attributes={"flag": "cart.v2"})
    >>> plan_test(c, flag, [], 160.0).summary
    'error ratio, latency p99 seconds of cart: requests with cart.v2 on against off'
    >>> plan_test(Candidate(2, Cause(CauseType.NONE), 0.1, "", "", ()), None, [], 0.0) is None
    True
    """
    plan = _plan(candidate, change, _symptoms(signals), onset)
    if plan is None or not rises:
        return plan
    mine = tuple((s, r) for s in plan.signals if (r := rises.get((plan.service, s), 0.0)) > 0)
    return replace(plan, rises=mine) if mine else plan


def _plan(candidate: Candidate, change: Change | None, symptoms: tuple[str, ...], onset: float) -> ConfirmPlan | None:
    cause = candidate.cause
    if cause.type is CauseType.CHANGE and change is not None:
        attrs = change.attributes
        if change.kind in (ChangeKind.DEPLOY, ChangeKind.ROLLBACK, ChangeKind.SCALE, ChangeKind.INFRA):
            new, old = str(attrs.get("to_revision", "")), str(attrs.get("from_revision", ""))
            new_name = f"new pods (revision {new})" if new else "new pods"
            old_name = f"old ({old})" if old else "old pods"
            return ConfirmPlan(cause, TestKind.VERSION, change.service, symptoms, SPLIT_LABEL[TestKind.VERSION],
                               new, old, new_name, old_name, change.ts, onset)
        if change.kind is ChangeKind.CONFIG:
            new, old = str(attrs.get("to_hash", "")), str(attrs.get("from_hash", ""))
            cm = str(attrs.get("configmap", change.service))
            return ConfirmPlan(cause, TestKind.CONFIG, change.service, symptoms, SPLIT_LABEL[TestKind.CONFIG],
                               new, old, f"pods on the new {cm}", "pods on the old one", change.ts, onset)
        flag = str(attrs.get("flag", "the flag"))
        return ConfirmPlan(cause, TestKind.FLAG, change.service, symptoms, SPLIT_LABEL[TestKind.FLAG],
                           "on", "off", f"requests with {flag} on", "off", change.ts, onset)
    if cause.type is CauseType.DEPENDENCY:
        return ConfirmPlan(cause, TestKind.DEPENDENCY, cause.ref, tuple(s for s in symptoms if
                                                                         role_of(s) is SignalRole.ERRORS)
                           or ("error_ratio",), SPLIT_LABEL[TestKind.DEPENDENCY], cause.ref, "",
                           f"calls to {cause.ref}", "calls elsewhere", onset, onset)
    if cause.type is CauseType.TRAFFIC:
        return ConfirmPlan(cause, TestKind.TRAFFIC, cause.ref, ("request_rate",), SPLIT_LABEL[TestKind.TRAFFIC],
                           "", "", "the surging route", "the other routes", onset, onset)
    return None
