"""The postmortem draft, in Markdown, ready to paste: timeline, impact, candidates, dead ends, follow-ups."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ..notify.render import (
    NEAR_ZERO,
    format_value,
    is_shell_command,
    likely_cause,
    lineage,
    render_symptom,
    response_name,
)
from ..web.layout import dead_end_groups
from .hypotheses import cause_key

__all__ = ["FOLLOW_UPS", "postmortem_timeline", "render_postmortem"]

SAME_ACTION = 300.0  # a feedback this close after a confirm of the same cause is the same responder action

FOLLOW_UPS = (
    ("The fix", "remove the cause for good (not only the mitigation applied during the incident)"),
    ("Improved observability", "the signal, alert or dashboard that would have shown this sooner"),
    ("An updated runbook", "what the responders did, so the next on-call does it in minutes"),
    ("A blameless review", "schedule it; focus on how the system let this happen, not on who"),
)


def _ts(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts)) if ts is not None else "—"


def _duration(seconds: float) -> str:
    """``1h 05m``, ``12m 30s``.

    >>> _duration(3900), _duration(750), _duration(42)
    ('1h 05m', '12m 30s', '42s')
    """
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s}s"


def _md(text: Any) -> str:
    """One line of text safe inside a Markdown table or list (no line breaks, pipes escaped)."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _titles(view: Mapping[str, Any]) -> dict[str, str]:
    """Cause key -> the title a reader knows it by."""
    out = {f"change:{c['id']}": str(c.get("summary") or c["id"]) for c in view.get("changes") or []}
    for c in [*(view.get("candidates") or []), *(view.get("dead_ends") or [])]:
        if c.get("title"):
            out[cause_key(c["cause"])] = str(c["title"])
    return out


def postmortem_timeline(view: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The events that matter, each once, oldest first: the changes that were candidates (or that a
    responder named), changes during the incident to its services or a candidate's (rollbacks,
    mitigations), health transitions, onset, detection, pages, responder actions, resolution.

    Background changes of the window are left out; the first responder action is marked as such
    rather than repeated as an "acknowledgement" row; a confirm that also recorded feedback is one row.
    """
    titles = _titles(view)
    named = {cause_key(c["cause"]) for c in view.get("candidates") or [] if float(c.get("score", 0)) >= NEAR_ZERO}
    named |= {cause_key(d["cause"]) for d in view.get("dead_ends") or [] if d.get("refuted_at") is not None}
    named |= {str(h["cause_key"]) for h in view.get("hypotheses") or []}
    named |= {cause_key(f["cause"]) for f in view.get("feedback") or []}
    confirms = [(str(h["cause_key"]), float(h["created_at"])) for h in view.get("hypotheses") or []
                if h.get("state") == "confirmed"]
    # changes during the incident to its services or to a candidate's (a rollback, a mitigation) matter too
    by_id = {c["id"]: c for c in view.get("changes") or []}
    involved = set(view.get("services") or []) | {str(by_id[k.split(":", 1)[1]].get("service"))
                                                   for k in named if k.split(":", 1)[1] in by_id}
    during = {c["id"] for c in by_id.values()
              if float(c["ts"]) >= float(view["onset"]) and c.get("service") in involved}
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    first_action = True
    for e in view.get("timeline") or []:
        kind, text = str(e["kind"]), str(e["text"])
        if kind == "change" and f"change:{e.get('ref')}" not in named and e.get("ref") not in during:
            continue
        if kind == "acknowledgement":
            continue
        if kind == "hypothesis":
            key = str(e.get("ref", ""))
            text = text.replace(key, titles.get(key, key), 1)
        if kind == "feedback":
            fb = next((f for f in view.get("feedback") or [] if float(f["created_at"]) == float(e["ts"])), None)
            key = cause_key(fb["cause"]) if fb else ""
            if any(k == key and 0 <= float(e["ts"]) - t <= SAME_ACTION for k, t in confirms):
                continue
            text = text.replace(key, titles.get(key, key), 1) if key else text
        if kind in ("hypothesis", "feedback") and first_action:
            text += " (first responder action)"
            first_action = False
        if (kind, text) in seen:
            continue
        seen.add((kind, text))
        out.append({**e, "text": text})
    return out


def _tests_section(doc: Mapping[str, Any]) -> list[str]:
    """The confirm tests whatchanged ran: verdict, candidate, numbers, the query, per signal the test."""
    tests = doc.get("tests") or []
    if not tests:
        return []
    lines = ["", "### Confirm tests run", ""]
    for t in tests:
        lines.append(f"- {_ts(t['at'])} **{t['verdict']}** {_md(t.get('title') or cause_key(t['cause']))}: "
                     f"{_md(t['reason'])}")
        if t.get("query"):
            lines.append(f"  - Query: `{str(t['query']).replace('`', chr(39))}`")
        for sig in t.get("signals") or []:
            if sig.get("test"):
                lines.append(f"  - {sig['signal']}: new {sig['new']} vs old {sig['old']} (n {sig['n_new']} vs "
                             f"{sig['n_old']}, {sig['steps']} steps, {sig['test']}, p(worse) {sig['p_worse']}, "
                             f"p(not material) {sig['p_not_material']}): {sig['verdict']}")
    return lines


def render_postmortem(view: Mapping[str, Any], *, url: str = "") -> str:
    """Render a workspace view (see :func:`daemon.workspace.view.build_view`) as a Markdown draft."""
    doc = view
    # The incident's own onset: the earliest of its estimate and its first anomaly (a re-ranked estimate
    # may move later than the page), so that no time below comes out negative.
    onset = min(float(doc["onset"]), float(doc.get("first_onset", doc["onset"])))
    title = render_symptom(dict(doc))
    cause = likely_cause(dict(doc))
    end = doc.get("resolved_at")
    lines = [f"# Postmortem draft: {_md(title)}", ""]
    lines += [f"- Incident: `{doc['id']}`" + (f" ({url})" if url else ""),
              *([f"- Ranking: {_md(cause)}"] if cause else []),
              f"- State: {doc['state']}" + (f" (re-opened {doc['reopened']}×)" if doc.get("reopened") else ""),
              *([f"- Related: {_md(lineage(dict(doc)))}"] if lineage(dict(doc)) else []),
              f"- Onset: {_ts(onset)}; resolved: {_ts(end)}", ""]
    lines += ["## Timeline", "", "| time (UTC) | event | what |", "| --- | --- | --- |"]
    for e in postmortem_timeline(doc):
        lines.append(f"| {_ts(e['ts'])} | {e['kind']} | {_md(e['text'])} |")
    lines += ["", "## Impact", ""]
    duration = max(0.0, (float(end) if end is not None else float(doc["now"])) - onset)
    services = doc.get("services") or []
    lines.append(f"- Duration: {_duration(duration)}" + ("" if end is not None else " so far (still open)"))
    lines.append(f"- Services affected: {', '.join(services) if services else 'none recorded'}")
    if doc.get("paged_at") is not None:
        lines.append(f"- Time to page: {_duration(max(0.0, float(doc['paged_at']) - onset))} after onset")
    if doc.get("acknowledged_at") is not None:
        lines.append(f"- Time to first responder action: "
                     f"{_duration(max(0.0, float(doc['acknowledged_at']) - onset))} after onset")
    for r in doc.get("responses") or []:
        lines.append(f"- Response: {_md(response_name(r))}, {_duration(max(0.0, float(r['ts']) - onset))} "
                     "after onset")
    points = {s["series"]: s.get("points", []) for s in doc.get("series", [])}
    for a in doc.get("anomalies", []):
        until = a.get("recovered_at") or float("inf")
        during = [p[1] for p in points.get(a.get("series", ""), []) if a["onset"] <= p[0] <= until]
        peak = (max(during) if a["direction"] == "up" else min(during)) if during else None
        sig = str(a["signal"])
        peak_txt = f", worst {format_value(sig, peak)}" if peak is not None else ""
        lines.append(f"- {a['service']} {sig.replace('_', ' ')}: {format_value(sig, a['before'])} → "
                     f"{format_value(sig, a['after'])}"
                     f"{peak_txt} (onset {_ts(a['onset'])}"
                     + (f", recovered {_ts(a['recovered_at'])})" if a.get("recovered_at") else ")"))
    lines += ["", "## Candidates", ""]
    cands = doc.get("candidates") or []
    if not cands:
        lines.append("No candidate was found.")
    shown = [c for i, c in enumerate(cands) if i == 0 or float(c["score"]) >= NEAR_ZERO or c.get("hypothesis_state")]
    for n, c in enumerate(shown, 1):  # numbered as listed: refuted ones moved to the dead ends leave no gap
        state = f" — **{c['hypothesis_state']}**" if c.get("hypothesis_state") else ""
        note = f" ({_md(c['hypothesis_note'])})" if c.get("hypothesis_note") else ""
        lines.append(f"{n}. ({c['score']:.0%}) {_md(c.get('title') or c['cause'])}{state}{note}")
        lines.append(f"   - Hypothesis: {_md(c['hypothesis'])}")
        lines.append(f"   - Test: {_md(c['test'])}")
        for ev in c.get("evidence", []):
            lines.append(f"   - Evidence: {_md(ev)}")
    folded = [c for c in cands if c not in shown]
    if folded:
        lines.append(f"\nAlso considered, each under 1%: {_md(', '.join(str(c.get('title') or c['cause']) for c in folded))}.")
    lines += _tests_section(doc)
    rec = doc.get("recommendation") or {}
    if rec:
        lines += ["", f"Recommendation ({rec.get('action')}): {_md(rec.get('why', ''))}"]
        if rec.get("command") and is_shell_command(str(rec["command"])):
            lines += ["", "```sh", str(rec["command"]), "```"]
        elif rec.get("command"):
            lines += ["", f"Action: {_md(rec['command'])}."]
    lines += ["", "## Dead ends", ""]
    dead = doc.get("dead_ends") or []
    if not dead:
        lines.append("None recorded.")
    for g in dead_end_groups(dead):
        if len(g["titles"]) == 1:
            lines.append(f"- {_md(g['titles'][0])}: {_md(g['reason'])}")
        else:
            lines.append(f"- {_md(g['reason'][:1].upper() + g['reason'][1:])} ({len(g['titles'])}): "
                         f"{_md(', '.join(g['titles']))}")
    confirmed = [c for c in cands if c.get("hypothesis_state") == "confirmed"]
    fb = doc.get("feedback") or []
    lines += ["", "## Root cause", ""]
    if confirmed:
        lines += [f"Confirmed by the responders: {_md(c.get('title') or c['cause'])}"
                  + (f" ({_md(c['hypothesis_note'])})" if c.get("hypothesis_note") else "") + "." for c in confirmed]
    elif fb:
        lines.append(f"Responder feedback: the cause was {_md(cause_key(fb[-1]['cause']))}"
                     + (f" ({_md(fb[-1]['note'])})" if fb[-1].get("note") else "") + ".")
    else:
        lines.append("_Not confirmed yet: fill in._")
    refuted = [d for d in dead if d.get("refuted_at") is not None]
    if refuted:
        lines += ["", "Ruled out by the responders: "
                  + "; ".join(f"{_md(d.get('title') or cause_key(d['cause']))} ({_md(d['reason'])})" for d in refuted)
                  + "."]
    lines += ["", "## Follow-ups", ""]
    for name, what in FOLLOW_UPS:
        lines.append(f"- [ ] **{name}**: {what}. Owner: _ _, due: _ _")
    return "\n".join(lines) + "\n"
