"""Render an incident into the sentences a responder reads: the page's title and text, the symptom, the
likely cause, the lineage, the details receivers attach.

Every surface (notifier texts, the web page, the CLI, the postmortem) takes its sentences from here and
its numbers from :mod:`correlators.display`; each reads the incident as a typed
:class:`~correlators.view.IncidentView` (a document in its JSON form is read into one first).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from correlators.display import clock, duration, iso, level_change, probability, signal_value, unit
from correlators.signals import role_of
from correlators.types import Anomaly, CauseType, Change
from correlators.view import CandidateView, DeadEndView, IncidentView, change_from_json

__all__ = [
    "NEAR_ZERO",
    "DeadEndGroup",
    "Doc",
    "clip",
    "dead_end_groups",
    "format_value",
    "incident_details",
    "is_shell_command",
    "iso",
    "likely_cause",
    "lineage",
    "plain",
    "possessive",
    "render_resolve_text",
    "render_symptom",
    "render_text",
    "render_title",
    "response_name",
    "shown_candidates",
    "symptom_level",
    "unit_of",
]

Doc = IncidentView | Mapping[str, Any]
"""An incident as a typed view, or its JSON form (read into a view once)."""

NEAR_ZERO = 0.005  # a score that rounds to 0.00: folded, not shown as a full candidate


def unit_of(signal: str) -> str:
    """The unit a signal's values are shown in, by its role: ``%``, ``ms``, ``req/s`` or ``''``.

    >>> unit_of("error_ratio"), unit_of("latency_p99_seconds"), unit_of("request_rate"), unit_of("cpu")
    ('%', 'ms', 'req/s', '')
    """
    return unit(role_of(signal))


def format_value(signal: str, v: float) -> str:
    """A value of a signal as a responder reads it, by the signal's role (:func:`correlators.display.signal_value`).

    >>> format_value("error_ratio", 0.04976), format_value("latency_p99_seconds", 0.18), format_value("cpu", 0.1234)
    ('5.0%', '180 ms', '0.1234')
    """
    return signal_value(role_of(signal), v)


def symptom_level(view: IncidentView, a: Anomaly) -> str:
    """``checkout error ratio 0.40% → 5.1%``: an anomaly and how its level moved."""
    return f"{a.service} {a.signal.replace('_', ' ')} {level_change(view.role(a.signal), a.before, a.after)}"


def possessive(name: str) -> str:
    """``checkout's``, ``recommendations'``.

    >>> possessive("checkout"), possessive("recommendations")
    ("checkout's", "recommendations'")
    """
    return f"{name}'" if name.endswith("s") else f"{name}'s"


_COMMANDS = ("kubectl", "helm", "argocd", "curl", "flux", "aws", "gcloud", "az", "terraform", "istioctl",
             "linkerd", "systemctl", "docker")


def is_shell_command(text: str) -> bool:
    """Whether a recommendation's ``command`` is something to paste into a shell (else it is prose).

    >>> is_shell_command("kubectl rollout undo deployment/checkout -n shop --to-revision=14")
    True
    >>> is_shell_command("fail over redis-cache or degrade cart, catalog gracefully")
    False
    """
    first = text.strip().split(" ", 1)[0]
    return first in _COMMANDS


def render_symptom(doc: Doc) -> str:
    """``checkout: error ratio 0.40% → 5.1% since 03:02 UTC (frontend affected)``."""
    view = IncidentView.coerce(doc)
    a = view.first_symptom
    if a is None:
        return f"incident {view.id}"
    others = [s for s in view.services if s != a.service]
    affected = f" ({', '.join(others[:4])}{' …' if len(others) > 4 else ''} affected)" if others else ""
    return (f"{a.service}: {a.signal.replace('_', ' ')} {level_change(view.role(a.signal), a.before, a.after)} "
            f"since {clock(view.onset)} UTC{affected}")


def likely_cause(doc: Doc) -> str:
    """The likely cause and its confidence in a few words ('' without candidates).

    >>> likely_cause({"candidates": [{"title": "deploy checkout 15", "score": 0.78, "cause": {"type": "change"}}]})
    'likely deploy checkout 15 (78%)'
    >>> likely_cause({"low_confidence": True, "candidates": [
    ...     {"title": "deploy a", "score": 0.3, "cause": {"type": "change"}}]})
    'cause unclear (best guess: deploy a, 30%)'
    """
    view = IncidentView.coerce(doc)
    top = view.top
    if top is None:
        return ""
    real = [c for c in view.candidates if c.cause.type is not CauseType.NONE]
    if top.cause.type is CauseType.NONE and not real:
        return "no recorded change explains it"
    best = real[0] if real else top
    name = best.title or best.cause.type.value
    if view.low_confidence or top.cause.type is CauseType.NONE:
        return f"cause unclear (best guess: {name}, {probability(best.score)})"
    return f"likely {name} ({probability(best.score)})"


def render_title(doc: Doc) -> str:
    """The page's one line: the likely cause with its confidence first, then the symptom.

    ``Likely checkout rollout revision 14 -> 15 (78%): checkout: error ratio 0.40% → 5.1% since 03:02 UTC``
    """
    view = IncidentView.coerce(doc)
    cause = likely_cause(view)
    symptom = render_symptom(view)
    return f"{cause[:1].upper()}{cause[1:]}: {symptom}" if cause else symptom


_CODE = re.compile(r"`([^`]+)`")


def plain(text: str) -> str:
    """Inline Markdown as plain text, for receivers that show text as is.

    >>> plain("check `kubectl logs`, then **roll back**")
    'check kubectl logs, then roll back'
    """
    return _CODE.sub(r"\1", text).replace("**", "")


def shown_candidates(view: IncidentView) -> tuple[list[CandidateView], list[CandidateView]]:
    """``(shown, folded)``: candidates scoring next to nothing are folded (the top one is always shown,
    and so is one a responder has marked)."""
    shown: list[CandidateView] = []
    folded: list[CandidateView] = []
    for i, c in enumerate(view.candidates):
        (shown if i == 0 or c.score >= NEAR_ZERO or c.state else folded).append(c)
    return shown, folded


_SCORE = re.compile(r"\s*\((?:score [0-9.]+|under 1%|[0-9]+%)\)")


@dataclass(frozen=True, slots=True)
class DeadEndGroup:
    """Dead ends ruled out for the same reason."""

    reason: str
    titles: tuple[str, ...]


def dead_end_groups(dead_ends: Sequence[DeadEndView]) -> list[DeadEndGroup]:
    """Dead ends grouped by reason (a score in the reason does not split a group), largest group last.

    >>> from correlators.types import Cause, CauseType
    >>> def d(title, reason): return DeadEndView(Cause(CauseType.CHANGE, title), reason, title)
    >>> g = dead_end_groups([d("a", "less likely than the top 5 (under 1%)"), d("b", "less likely than the top 5 (2%)"),
    ...                      d("c", "came 2 min after the onset")])
    >>> [(x.reason, x.titles) for x in g]
    [('came 2 min after the onset', ('c',)), ('less likely than the top 5', ('a', 'b'))]
    """
    groups: dict[str, list[str]] = {}
    for d in dead_ends:
        groups.setdefault(_SCORE.sub("", d.reason).strip(), []).append(d.name)
    order = sorted(groups.items(), key=lambda kv: (len(kv[1]) > 1, len(kv[1])))
    return [DeadEndGroup(r, tuple(t)) for r, t in order]


def lineage(doc: Doc) -> str:
    """How the incident relates to others: follows, re-opened, merged ('' when alone).

    >>> print(lineage({"follows": "inc-1", "follows_by": 240.0, "reopened": 1}).replace("; ", ";\\n"))
    Follows inc-1 by 4 min (a new outage after it resolved, with its own page);
    re-opened 1× (the same outage came back)
    >>> lineage({"merged_into": "inc-2", "merged_from": ["inc-3"]})
    'Merged into inc-2 (one outage, one page); merged from inc-3'
    >>> lineage({})
    ''
    """
    view = IncidentView.coerce(doc)
    parts = []
    if view.follows:
        by = view.follows_by
        parts.append(f"follows {view.follows}" + (f" by {duration(by)}" if by is not None else "")
                     + " (a new outage after it resolved, with its own page)")
    if view.reopened:
        parts.append(f"re-opened {view.reopened}× (the same outage came back)")
    if view.merged_into:
        parts.append(f"merged into {view.merged_into} (one outage, one page)")
    if view.merged_from:
        parts.append(f"merged from {', '.join(view.merged_from)}")
    text = "; ".join(parts)
    return text[:1].upper() + text[1:]


_RESPONSE_NAMES = {"rollback": "the rollback", "feature_flag": "the flag change", "config": "the config change",
                   "scale": "the scaling", "deploy": "the deploy", "infra": "the infrastructure change"}


def response_name(change: Change | Mapping[str, Any]) -> str:
    """``the rollback at 18:29 UTC (payments rollback revision 7 -> 6)``.

    >>> response_name({"id": "c", "kind": "rollback", "ts": 66540.0, "service": "payments",
    ...                "summary": "payments 7 -> 6"})
    'the rollback at 18:29 UTC (payments 7 -> 6)'
    """
    ch = change if isinstance(change, Change) else change_from_json(change)
    kind = ch.kind.value
    what = ch.summary or f"{kind} {ch.service}".strip()
    return f"{_RESPONSE_NAMES.get(kind, 'the ' + kind)} at {clock(ch.ts)} UTC ({what})"


def render_resolve_text(doc: Doc) -> str:
    """The resolve page: the incident recovered, when, and what helped; never a command to run.

    The view's ``responses`` are the changes made in response to the incident before it recovered.
    """
    view = IncidentView.coerce(doc)
    end = view.resolved_at
    took = f", {duration(end - view.onset)} after onset" if end is not None else ""
    lines = [f"Recovered at {clock(end)} UTC{took}: every anomaly is back to normal. Nothing to run."]
    helped = [r for r in view.responses or () if end is None or r.ts <= end]
    if helped:
        lines.append("What helped: " + "; ".join(response_name(r) for r in helped) + ".")
    else:
        lines.append("No response was recorded before it recovered.")
    cause = likely_cause(view)
    if cause:
        lines.append(f"Cause as ranked: {cause}.")
    rel = lineage(view)
    if rel:
        lines.append(f"{rel}.")
    lines.append("Next: confirm the cause on the incident page; the postmortem draft is ready there.")
    return "\n".join(lines)


def render_text(doc: Doc, *, max_candidates: int = 3) -> str:
    """The page's body: the likely cause and what to do first, then the candidates and what was ruled out."""
    view = IncidentView.coerce(doc)
    lines = []
    cause = likely_cause(view)
    rec = view.recommendation
    if cause:
        lines.append(f"{cause[:1].upper()}{cause[1:]}.")
    rel = lineage(view)
    if rel:
        lines.append(f"{rel}.")
    if rec is not None and rec.is_watch:  # the response has been made: nothing to run
        lines.append(f"Recommended (watch, nothing to run): {plain(rec.why)}")
        rec = None
    if rec is not None and rec.command and is_shell_command(rec.command):
        lines.append(f"Recommended ({rec.action}): {rec.command}")
    elif rec is not None and rec.command:
        lines.append(f"Recommended ({rec.action}): {plain(rec.command)}.")
    if rec is not None and rec.why:
        lines.append(f"Why: {plain(rec.why)}")
    cands = view.candidates
    shown = [c for c in cands[:max_candidates] if c.score >= NEAR_ZERO] or list(cands[:1])
    for c in shown:
        lines.append(f"{c.rank}. ({probability(c.score)}) {c.name}")
        lines.append(f"   Hypothesis: {plain(c.hypothesis)}")
        lines.append(f"   Confirm: {plain(c.test)}")
        lines += [f"   Test run: {plain(t.line)}" for t in view.tests_of(c.cause)]
    folded = len(cands) - len(shown)
    if folded > 0:
        lines.append(f"({folded} more candidate{'s' if folded > 1 else ''} on the incident page)")
    if view.low_confidence:
        lines.append("Low confidence: no candidate clearly explains this.")
    dead = view.dead_ends
    if dead:
        ruled = "; ".join(f"{d.name} ({d.reason})" for d in dead[:3])
        lines.append(f"Ruled out: {ruled}{' …' if len(dead) > 3 else ''}")
    return "\n".join(lines)


def clip(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters, marking the cut.

    >>> clip("abcdef", 4), clip("abc", 4)
    ('abc…', 'abc')
    """
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def incident_details(doc: Doc, *, max_candidates: int = 5, max_dead_ends: int = 5) -> dict[str, Any]:
    """What a responder needs beside the title: ranked candidates with hypothesis and test,
    dead ends with the reason, the recommendation, the anomalies (for PagerDuty
    ``custom_details``, Opsgenie ``details``, webhook bodies)."""
    view = IncidentView.coerce(doc)
    cands = [{"rank": c.rank, "score": round(c.score, 3), "cause": c.name, "hypothesis": c.hypothesis,
              "test": c.test, **({"tests": [t.line for t in view.tests_of(c.cause)]} if view.tests_of(c.cause) else {})}
             for c in view.candidates[:max_candidates]]
    dead = [{"cause": d.name, "reason": d.reason} for d in view.dead_ends[:max_dead_ends]]
    anomalies = [symptom_level(view, a) for a in view.anomalies[:10]]
    return {"incident": view.id, "likely_cause": likely_cause(view), "state": view.state,
            "services": list(view.services),
            "candidates": cands, "dead_ends": dead,
            "recommendation": view.recommendation.to_json() if view.recommendation else {},
            "low_confidence": view.low_confidence, "anomalies": anomalies}
