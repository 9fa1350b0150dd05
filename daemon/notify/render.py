"""Render an incident document into the page a responder reads."""

from __future__ import annotations

import re
import time
from typing import Any

__all__ = [
    "format_value",
    "is_shell_command",
    "likely_cause",
    "lineage",
    "possessive",
    "render_resolve_text",
    "render_symptom",
    "render_text",
    "render_title",
    "response_name",
    "unit_of",
]


def _clock(ts: float | None) -> str:
    return time.strftime("%H:%M", time.gmtime(ts)) if ts else "?"


def unit_of(signal: str) -> str:
    """The unit a signal's values are shown in: ``%``, ``ms``, ``req/s`` or ``''``.

    >>> unit_of("error_ratio"), unit_of("latency_p99_seconds"), unit_of("request_rate"), unit_of("cpu")
    ('%', 'ms', 'req/s', '')
    """
    s = signal.lower()
    if "error" in s or "ratio" in s:
        return "%"
    if "latency" in s or "seconds" in s or "duration" in s:
        return "ms"
    if "rate" in s or "rps" in s or "requests" in s:
        return "req/s"
    return ""


def format_value(signal: str, v: float) -> str:
    """A value as a responder reads it: ``4.8%``, ``180 ms``, ``1.2 s``, ``35 req/s``.

    >>> format_value("error_ratio", 0.04976), format_value("error_ratio", 0.004334)
    ('5.0%', '0.43%')
    >>> format_value("latency_p99_seconds", 0.18), format_value("latency_p99_seconds", 12.5)
    ('180 ms', '12.5 s')
    >>> format_value("request_rate", 35.24), format_value("request_rate", 1234.5), format_value("cpu", 0.123456)
    ('35.2 req/s', '1,234 req/s', '0.1235')
    """
    unit = unit_of(signal)
    if unit == "%" and 0.0 <= v <= 1.0:
        pct = v * 100
        return f"{pct:.2f}%" if pct < 1 else f"{pct:.1f}%"
    if unit == "ms":
        return f"{v * 1000:.0f} ms" if v < 10 else f"{v:.1f} s"
    if unit == "req/s":
        return f"{v:,.0f} req/s" if abs(v) >= 100 else f"{v:.3g} req/s"
    return f"{v:.4g}"


def _level(signal: str, v: float) -> str:
    if "error" in signal and 0.0 <= v <= 1.0:
        return f"{v:.1%}"
    if "latency" in signal or "seconds" in signal:
        return f"{v * 1000:.0f} ms" if v < 10 else f"{v:.1f} s"
    return f"{v:.4g}"


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


def render_symptom(doc: dict[str, Any]) -> str:
    """``checkout: error ratio 0.4% → 5.1% since 03:02 UTC (frontend affected)``."""
    anomalies = sorted(doc.get("anomalies", []), key=lambda a: (a["onset"], a["service"]))
    if not anomalies:
        return f"incident {doc.get('id', '?')}"
    a = anomalies[0]
    others = [s for s in doc.get("services", []) if s != a["service"]]
    affected = f" ({', '.join(others[:4])}{' …' if len(others) > 4 else ''} affected)" if others else ""
    return (f"{a['service']}: {a['signal'].replace('_', ' ')} {_level(a['signal'], a['before'])} → "
            f"{_level(a['signal'], a['after'])} since {_clock(doc.get('onset'))} UTC{affected}")


def _cause_name(c: dict[str, Any]) -> str:
    return str(c.get("title") or c.get("cause", {}).get("type", "?"))


def likely_cause(doc: dict[str, Any]) -> str:
    """The likely cause and its confidence in a few words ('' without candidates).

    >>> likely_cause({"candidates": [{"title": "deploy checkout 15", "score": 0.78, "cause": {"type": "change"}}]})
    'likely deploy checkout 15 (78%)'
    >>> likely_cause({"low_confidence": True, "candidates": [
    ...     {"title": "deploy a", "score": 0.3, "cause": {"type": "change"}}]})
    'cause unclear (best guess: deploy a, 30%)'
    """
    cands = [c for c in doc.get("candidates") or [] if c.get("cause", {}).get("type") != "none"]
    top = (doc.get("candidates") or [None])[0]
    if top is None:
        return ""
    if top.get("cause", {}).get("type") == "none" and not cands:
        return "no recorded change explains it"
    best = cands[0] if cands else top
    p = float(best.get("score", 0.0))
    if doc.get("low_confidence") or top.get("cause", {}).get("type") == "none":
        return f"cause unclear (best guess: {_cause_name(best)}, {p:.0%})"
    return f"likely {_cause_name(best)} ({p:.0%})"


def render_title(doc: dict[str, Any]) -> str:
    """The page's one line: the likely cause with its confidence first, then the symptom.

    ``Likely checkout rollout revision 14 -> 15 (78%): checkout: error ratio 0.4% → 5.1% since 03:02 UTC``
    """
    cause = likely_cause(doc)
    symptom = render_symptom(doc)
    return f"{cause[:1].upper()}{cause[1:]}: {symptom}" if cause else symptom


_CODE = re.compile(r"`([^`]+)`")


def plain(text: str) -> str:
    """Inline Markdown as plain text, for receivers that show text as is.

    >>> plain("check `kubectl logs`, then **roll back**")
    'check kubectl logs, then roll back'
    """
    return _CODE.sub(r"\1", text).replace("**", "")


NEAR_ZERO = 0.005  # a score that rounds to 0.00: folded, not shown as a full candidate


def _gap(seconds: float) -> str:
    """``4 min``, ``45 s``.

    >>> _gap(240.0), _gap(45.0), _gap(-10.0)
    ('4 min', '45 s', '0 s')
    """
    seconds = max(0.0, seconds)
    return f"{seconds / 60.0:.0f} min" if seconds >= 60.0 else f"{seconds:.0f} s"


def lineage(doc: dict[str, Any]) -> str:
    """How the incident relates to others: follows, re-opened, merged ('' when alone).

    >>> lineage({"follows": "inc-1", "follows_by": 240.0, "reopened": 1})
    'Follows inc-1 by 4 min (a new outage after it resolved, with its own page); re-opened 1× (the same outage came back)'
    >>> lineage({"merged_into": "inc-2", "merged_from": ["inc-3"]})
    'Merged into inc-2 (one outage, one page); merged from inc-3'
    >>> lineage({})
    ''
    """
    parts = []
    if doc.get("follows"):
        by = doc.get("follows_by")
        parts.append(f"follows {doc['follows']}" + (f" by {_gap(float(by))}" if by is not None else "")
                     + " (a new outage after it resolved, with its own page)")
    if doc.get("reopened"):
        parts.append(f"re-opened {doc['reopened']}× (the same outage came back)")
    if doc.get("merged_into"):
        parts.append(f"merged into {doc['merged_into']} (one outage, one page)")
    if doc.get("merged_from"):
        parts.append(f"merged from {', '.join(doc['merged_from'])}")
    text = "; ".join(parts)
    return text[:1].upper() + text[1:]


_RESPONSE_NAMES = {"rollback": "the rollback", "feature_flag": "the flag change", "config": "the config change",
                   "scale": "the scaling", "deploy": "the deploy", "infra": "the infrastructure change"}


def response_name(change: dict[str, Any]) -> str:
    """``the rollback at 18:29 (payments rollback revision 7 -> 6)``.

    >>> response_name({"kind": "rollback", "ts": 66540.0, "service": "payments", "summary": "payments 7 -> 6"})
    'the rollback at 18:29 UTC (payments 7 -> 6)'
    """
    kind = str(change.get("kind", "change"))
    what = change.get("summary") or f"{kind} {change.get('service', '')}".strip()
    return f"{_RESPONSE_NAMES.get(kind, 'the ' + kind)} at {_clock(change.get('ts'))} UTC ({what})"


def render_resolve_text(doc: dict[str, Any]) -> str:
    """The resolve page: the incident recovered, when, and what helped; never a command to run.

    ``doc["responses"]`` are the changes made in response to the incident before it recovered.
    """
    end, onset = doc.get("resolved_at"), doc.get("onset")
    took = f", {_gap(float(end) - float(onset))} after onset" if end is not None and onset is not None else ""
    lines = [f"Recovered at {_clock(end)} UTC{took}: every anomaly is back to normal. Nothing to run."]
    helped = [r for r in doc.get("responses") or [] if end is None or float(r.get("ts", 0.0)) <= float(end)]
    if helped:
        lines.append("What helped: " + "; ".join(response_name(r) for r in helped) + ".")
    else:
        lines.append("No response was recorded before it recovered.")
    cause = likely_cause(doc)
    if cause:
        lines.append(f"Cause as ranked: {cause}.")
    rel = lineage(doc)
    if rel:
        lines.append(f"{rel}.")
    lines.append("Next: confirm the cause on the incident page; the postmortem draft is ready there.")
    return "\n".join(lines)


def render_text(doc: dict[str, Any], *, max_candidates: int = 3) -> str:
    """The page's body: the likely cause and what to do first, then the candidates and what was ruled out."""
    lines = []
    cause = likely_cause(doc)
    rec = doc.get("recommendation") or {}
    if cause:
        lines.append(f"{cause[:1].upper()}{cause[1:]}.")
    rel = lineage(doc)
    if rel:
        lines.append(f"{rel}.")
    if rec.get("action") == "watch":  # the response has been made: nothing to run
        lines.append(f"Recommended (watch, nothing to run): {plain(str(rec.get('why', '')))}")
        rec = {}
    if rec.get("command") and is_shell_command(str(rec["command"])):
        lines.append(f"Recommended ({rec.get('action')}): {rec['command']}")
    elif rec.get("command"):
        lines.append(f"Recommended ({rec.get('action')}): {plain(str(rec['command']))}.")
    if rec.get("why"):
        lines.append(f"Why: {plain(str(rec['why']))}")
    cands = list(doc.get("candidates", []))
    shown = [c for c in cands[:max_candidates] if float(c.get("score", 0.0)) >= NEAR_ZERO] or cands[:1]
    for c in shown:
        lines.append(f"{c['rank']}. ({c['score']:.2f}) {c.get('title') or c['cause']}")
        lines.append(f"   Hypothesis: {plain(str(c['hypothesis']))}")
        lines.append(f"   Confirm: {plain(str(c['test']))}")
        lines += [f"   Test run: {plain(str(t['line']))}" for t in _tests_of(doc, c)]
    folded = len(cands) - len(shown)
    if folded > 0:
        lines.append(f"({folded} more candidate{'s' if folded > 1 else ''} on the incident page)")
    if doc.get("low_confidence"):
        lines.append("Low confidence: no candidate clearly explains this.")
    dead = doc.get("dead_ends", [])
    if dead:
        ruled = "; ".join(f"{d.get('title') or d['cause']} ({d['reason']})" for d in dead[:3])
        lines.append(f"Ruled out: {ruled}{' …' if len(dead) > 3 else ''}")
    return "\n".join(lines)


def _tests_of(doc: dict[str, Any], cand: dict[str, Any]) -> list[dict[str, Any]]:
    """The confirm tests run on one candidate (``confirmed: new pods (revision 15) 12.1% errors vs ...``)."""
    return [t for t in doc.get("tests") or [] if t.get("cause") == cand.get("cause")]


def clip(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters, marking the cut.

    >>> clip("abcdef", 4), clip("abc", 4)
    ('abc…', 'abc')
    """
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def iso(ts: float) -> str:
    """RFC 3339 UTC timestamp.

    >>> iso(0)
    '1970-01-01T00:00:00Z'
    """
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def incident_details(doc: dict[str, Any], *, max_candidates: int = 5, max_dead_ends: int = 5) -> dict[str, Any]:
    """What a responder needs beside the title: ranked candidates with hypothesis and test,
    dead ends with the reason, the recommendation, the anomalies (for PagerDuty
    ``custom_details``, Opsgenie ``details``, webhook bodies)."""
    cands = [{"rank": c.get("rank"), "score": round(float(c.get("score", 0.0)), 3),
              "cause": c.get("title") or str(c.get("cause")), "hypothesis": c.get("hypothesis", ""),
              "test": c.get("test", ""),
              **({"tests": [t.get("line", "") for t in _tests_of(doc, c)]} if _tests_of(doc, c) else {})}
             for c in doc.get("candidates", [])[:max_candidates]]
    dead = [{"cause": d.get("title") or str(d.get("cause")), "reason": d.get("reason", "")}
            for d in doc.get("dead_ends", [])[:max_dead_ends]]
    anomalies = [f"{a['service']} {a['signal'].replace('_', ' ')} {format_value(a['signal'], a['before'])} → "
                 f"{format_value(a['signal'], a['after'])}"
                 for a in doc.get("anomalies", [])[:10]]
    return {"incident": doc.get("id", ""), "likely_cause": likely_cause(doc), "state": doc.get("state", ""),
            "services": doc.get("services", []),
            "candidates": cands, "dead_ends": dead, "recommendation": doc.get("recommendation") or {},
            "low_confidence": bool(doc.get("low_confidence")), "anomalies": anomalies}
