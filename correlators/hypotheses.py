"""Sentences a responder reads: hypothesis, the test that confirms or rules it out, dead ends."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .display import duration, level_change, probability
from .signals import SignalRole, role_of
from .types import Candidate, Cause, CauseType, Change, ChangeKind, DeadEnd, Scored, Topology

if TYPE_CHECKING:
    from .incidents import Incident

__all__ = ["describe_candidate", "describe_dead_end", "rollout_clause", "symptom"]


def symptom(incident: Incident, roles: Mapping[str, SignalRole] | None = None) -> str:
    """``checkout error ratio 0.40% → 5.1%`` for the first anomaly, plus how many more; its value is
    written by the signal's role (configured in ``roles``, else implied by its name)."""
    if not incident.anomalies:
        return "the anomaly"
    first = min(incident.anomalies, key=lambda a: (a.onset, a.service))
    level = level_change(role_of(first.signal, roles), first.before, first.after)
    others = sorted(set(incident.services) - {first.service})
    more = f" (also {', '.join(others)})" if others else ""
    return f"{first.service} {first.signal.replace('_', ' ')} {level}{more}"


def _clock(ts: float) -> str:
    """``03:01 UTC``: the time of day a responder reads on every page and axis (never a raw epoch).

    >>> _clock(1_790_000_000.0)
    '14:13 UTC'
    """
    return time.strftime("%H:%M UTC", time.gmtime(ts))


def _possessive(name: str) -> str:
    """``checkout's``, ``recommendations'``.

    >>> _possessive("checkout"), _possessive("recommendations")
    ("checkout's", "recommendations'")
    """
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def _change_title(ch: Change) -> str:
    return ch.summary or f"{ch.kind.value} {ch.service}"


def rollout_clause(ch: Change, onset: float) -> str:
    """What a responder wants to know of a rollout's outcome, relative to the onset ('' when unknown).

    >>> done = Change("c", 100.0, ChangeKind.DEPLOY, "checkout", status="complete", completed_at=280.0)
    >>> rollout_clause(done, 400.0)
    'its rollout finished 2 min before the onset'
    >>> rollout_clause(Change("c", 100.0, ChangeKind.DEPLOY, "checkout", status="failed", completed_at=700.0,
    ...                       attributes={"status_reason": "ProgressDeadlineExceeded"}), 400.0)
    'its rollout failed (ProgressDeadlineExceeded) 5 min after the onset'
    """
    if ch.kind not in (ChangeKind.DEPLOY, ChangeKind.ROLLBACK) or not ch.status:
        return ""
    if ch.status == "progressing":
        return "its rollout had not completed when last seen"
    verb = "finished" if ch.status == "complete" else "failed"
    reason = ch.attributes.get("status_reason") if ch.status == "failed" else ""
    what = f"its rollout {verb}" + (f" ({reason})" if reason else "")
    if ch.completed_at is None:
        return what
    if abs(onset - ch.completed_at) < 5:
        return f"{what} at the onset"
    side = "before" if ch.completed_at <= onset else "after"
    return f"{what} {duration(abs(onset - ch.completed_at))} {side} the onset"


def _change_test(ch: Change, topology: Topology) -> str:
    ns = ch.namespace or topology.namespace(ch.service) or "default"
    if ch.kind in (ChangeKind.DEPLOY, ChangeKind.ROLLBACK):
        return (f"Compare errors of {ch.service} by pod_template_hash: if only pods of the new ReplicaSet fail, "
                f"the release is the cause (`kubectl rollout history deployment/{ch.service} -n {ns}`, "
                f"`kubectl logs -n {ns} -l app={ch.service} --since=15m`).")
    if ch.kind is ChangeKind.CONFIG:
        keys = ch.attributes.get("keys_changed")
        what = f" (keys {', '.join(map(str, keys))})" if isinstance(keys, list) and keys else ""
        cm = ch.attributes.get("configmap", ch.service)
        return (f"Diff configmap/{cm}{what} against its previous version and check {_possessive(ch.service)} "
                f"logs for config errors since {_clock(ch.ts)}; restoring the old value should clear the errors.")
    if ch.kind is ChangeKind.FEATURE_FLAG:
        flag = ch.attributes.get("flag", "the flag")
        return (f"Compare error ratio of requests with {flag} on versus off; turning {flag} off should "
                f"restore the error ratio within a minute.")
    if ch.kind is ChangeKind.SCALE:
        return (f"Check {_possessive(ch.service)} replica count, CPU throttling and saturation since the scaling "
                f"event at {_clock(ch.ts)}.")
    return (f"Check {_possessive(ch.service)} pod events and node conditions around {_clock(ch.ts)} "
            f"(`kubectl get events -n {ns}`).")


def describe_candidate(rank: int, s: Scored, p: float, incident: Incident, topology: Topology, *,
                       low_confidence: bool = False, roles: Mapping[str, SignalRole] | None = None) -> Candidate:
    """The candidate a responder reads; a weak one says so first, plainly (``roles``: the configured ones)."""
    what = symptom(incident, roles)
    cause = s.cause
    if cause.type is CauseType.CHANGE and s.change is not None:
        ch = s.change
        title = _change_title(ch)
        why = "; ".join(s.evidence[:3])
        clause = rollout_clause(ch, incident.estimated_onset)
        hyp = f"I think {title} is causing {what} because {why}" + (f"; {clause}." if clause else ".")
        test = _change_test(ch, topology)
    elif cause.type is CauseType.DEPENDENCY:
        title = f"{cause.ref} unhealthy"
        hyp = f"I think dependency {cause.ref} is causing {what} because {'; '.join(s.evidence[:2])}."
        users = ", ".join(sorted(topology.users_of(cause.ref))) or "its users"
        test = (f"Query {_possessive(cause.ref)} health directly (probe_success / up for it) and the error logs of "
                f"{users} for connection or timeout errors to {cause.ref}; errors should track its outage.")
    elif cause.type is CauseType.TRAFFIC:
        title = f"traffic surge at {cause.ref}"
        hyp = f"I think a traffic surge at {cause.ref} is causing {what} because {'; '.join(s.evidence[:2])}."
        test = (f"Plot request rate of {cause.ref} against latency and saturation (CPU, pool usage) of the "
                f"services it calls; if latency follows load and errors stay flat, it is load.")
    else:
        title = "none of these"
        hyp = (f"No recorded change, dependency or traffic shift explains {what}; the cause may be "
               f"unrecorded (a manual change, an external provider, a data problem).")
        test = ("Look for unrecorded changes (kubectl get events, cloud provider status, manual edits) and "
                "compare the failing requests' routes, tenants and error messages.")
    if low_confidence and hyp.startswith("I think "):
        hyp = f"I think, with low confidence ({probability(p)}), {hyp[len('I think '):]}"
    return Candidate(rank, cause, p, hyp, test, tuple(s.evidence), title, dict(s.features))


def describe_dead_end(cause: Cause, reason: str, change: Change | None = None) -> DeadEnd:
    title = _change_title(change) if change else f"{cause.type.value} {cause.ref}".strip()
    return DeadEnd(cause, reason, title)
