"""The 15-minute rule: roll back a deploy with a clean path, mitigate otherwise."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from .types import Action, Candidate, CauseType, Change, ChangeKind, Recommendation, Topology

if TYPE_CHECKING:
    from .incidents import Incident

__all__ = ["recommend", "rollback_path"]

_IRREVERSIBLE_KEYS = ("migration", "irreversible", "schema_migration")


def rollback_path(ch: Change) -> str | None:
    """The revision to roll back to, or None when there is no clean path.

    >>> from correlators.types import ChangeKind
    >>> rollback_path(Change("c", 0, ChangeKind.DEPLOY, "api", attributes={"from_revision": "14", "to_revision": "15"}))
    '14'
    >>> rollback_path(Change("c", 0, ChangeKind.DEPLOY, "api", attributes={"from_revision": "14", "migration": True}))
    """
    attrs = ch.attributes
    if any(bool(attrs.get(k)) for k in _IRREVERSIBLE_KEYS):
        return None
    if attrs.get("previous_revision_present") is False:
        return None
    rev = attrs.get("from_revision")
    return str(rev) if rev not in (None, "") else None


def _workload(ch: Change) -> str:
    kind = str(ch.attributes.get("workload_kind", "deployment")).lower()
    return f"{kind}/{ch.service}"


def recommend(
    candidates: Sequence[Candidate], changes: Mapping[str, Change], topology: Topology, incident: Incident,
) -> Recommendation:
    top = candidates[0] if candidates else None
    if top is None or top.cause.type is CauseType.NONE:
        deploys = [c for c in candidates if c.cause.type is CauseType.CHANGE
                   and c.cause.ref in changes and changes[c.cause.ref].kind is ChangeKind.DEPLOY]
        if deploys:
            ch = changes[deploys[0].cause.ref]
            ns = ch.namespace or topology.namespace(ch.service) or "default"
            rev = rollback_path(ch)
            cmd = f"kubectl rollout undo {_workload(ch)} -n {ns}" + (f" --to-revision={rev}" if rev else "")
            return Recommendation(Action.INVESTIGATE, cmd,
                                  "No candidate is convincing. If nothing is found within 15 minutes, roll back "
                                  f"the most plausible recent deploy ({ch.summary or ch.id}) anyway: it is cheap "
                                  "to undo and rules the release out.")
        return Recommendation(Action.INVESTIGATE, "",
                              "No recorded change explains this: look for unrecorded changes and external "
                              "causes, and page the owning team.")
    cause = top.cause
    if cause.type is CauseType.CHANGE and cause.ref in changes:
        ch = changes[cause.ref]
        ns = ch.namespace or topology.namespace(ch.service) or "default"
        if ch.kind is ChangeKind.DEPLOY:
            rev = rollback_path(ch)
            if rev is not None:
                return Recommendation(
                    Action.ROLLBACK,
                    f"kubectl rollout undo {_workload(ch)} -n {ns} --to-revision={rev}",
                    f"{ch.summary or ch.id} has a clean rollback path (revision {rev}); roll back now, "
                    "debug later.")
            return Recommendation(
                Action.MITIGATE,
                f"kubectl scale {_workload(ch)} -n {ns} --replicas=0  # only if callers degrade gracefully",
                f"{ch.summary or ch.id} is marked as a migration or has no previous revision: rolling back is "
                "not clean. Mitigate first: shift traffic away, disable the new code path behind a flag, or "
                "open the circuit breaker to it.")
        if ch.kind is ChangeKind.FEATURE_FLAG:
            flag = ch.attributes.get("flag", "the flag")
            return Recommendation(Action.MITIGATE, f"disable feature flag {flag}",
                                  f"Turn {flag} off (set rollout to 0%); it is the fastest clean undo.")
        if ch.kind is ChangeKind.CONFIG:
            cm = ch.attributes.get("configmap", ch.service)
            return Recommendation(
                Action.ROLLBACK,
                (f"kubectl rollout undo {_workload(ch)} -n {ns}"
                 f"  # after restoring configmap/{cm} to its previous version"),
                f"Restore configmap/{cm} to its previous version and restart {ch.service} to pick it up.")
        if ch.kind is ChangeKind.SCALE:
            return Recommendation(Action.MITIGATE, f"kubectl scale {_workload(ch)} -n {ns} --replicas=<previous>",
                                  "Undo the scaling change.")
        return Recommendation(Action.MITIGATE, "", f"Undo or work around {ch.summary or ch.id}.")
    if cause.type is CauseType.DEPENDENCY:
        users = ", ".join(sorted(topology.users_of(cause.ref))) or "its users"
        return Recommendation(Action.FAILOVER, f"fail over {cause.ref} or degrade {users} gracefully",
                              f"{cause.ref} is not ours to roll back: fail over to a replica or region, serve "
                              "degraded (cache, defaults), open circuit breakers, and contact its owner.")
    if cause.type is CauseType.TRAFFIC:
        ns = topology.namespace(cause.ref) or "default"
        return Recommendation(Action.SCALE_OUT, f"kubectl scale deployment/{cause.ref} -n {ns} --replicas=<more>",
                              "Load, not a defect: scale out the saturated services and shed or rate-limit "
                              "excess traffic at the edge.")
    return Recommendation(Action.INVESTIGATE, "", "Investigate the top candidate.")
