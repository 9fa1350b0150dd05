"""The postmortem draft, in Markdown, ready to paste: timeline, impact, candidates, dead ends, follow-ups."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from correlators.display import duration, probability, signal_value, utc
from correlators.view import IncidentView

from ..notify.render import (
    NEAR_ZERO,
    dead_end_groups,
    is_shell_command,
    likely_cause,
    lineage,
    render_symptom,
    response_name,
    shown_candidates,
)
from .model import TimelineEntry, WorkspaceView

__all__ = ["FOLLOW_UPS", "postmortem_timeline", "render_postmortem"]

SAME_ACTION = 300.0  # a feedback this close after a confirm of the same cause is the same responder action

FOLLOW_UPS = (
    ("The fix", "remove the cause for good (not only the mitigation applied during the incident)"),
    ("Improved observability", "the signal, alert or dashboard that would have shown this sooner"),
    ("An updated runbook", "what the responders did, so the next on-call does it in minutes"),
    ("A blameless review", "schedule it; focus on how the system let this happen, not on who"),
)


def _md(text: Any) -> str:
    """One line of text safe inside a Markdown table or list (no line breaks, pipes escaped)."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _titles(ws: WorkspaceView) -> dict[str, str]:
    """Cause key -> the title a reader knows it by."""
    out = {f"change:{c.id}": c.summary or c.id for c in ws.changes}
    for c in ws.incident.candidates:
        if c.title:
            out[c.cause.key] = c.title
    for d in ws.incident.dead_ends:
        if d.title:
            out[d.cause.key] = d.title
    return out


def postmortem_timeline(view: WorkspaceView | Mapping[str, Any]) -> list[TimelineEntry]:
    """The events that matter, each once, oldest first: the changes that were candidates (or that a
    responder named), changes during the incident to its services or a candidate's (rollbacks,
    mitigations), health transitions, onset, detection, pages, responder actions, resolution.

    Background changes of the window are left out; the first responder action is marked as such
    rather than repeated as an "acknowledgement" row; a confirm that also recorded feedback is one row.
    """
    ws = WorkspaceView.coerce(view)
    inc = ws.incident
    titles = _titles(ws)
    named = {c.cause.key for c in inc.candidates if c.score >= NEAR_ZERO}
    named |= {d.cause.key for d in inc.dead_ends if d.refuted_at is not None}
    named |= {h.cause_key for h in ws.hypotheses}
    named |= {f.cause.key for f in ws.feedback}
    confirms = [(h.cause_key, h.created_at) for h in ws.hypotheses if h.state == "confirmed"]
    # changes during the incident to its services or to a candidate's (a rollback, a mitigation) matter too
    by_id = {c.id: c for c in ws.changes}
    involved = set(inc.services) | {by_id[k.split(":", 1)[1]].service for k in named if k.split(":", 1)[1] in by_id}
    during = {c.id for c in by_id.values() if c.ts >= inc.onset and c.service in involved}
    out: list[TimelineEntry] = []
    seen: set[tuple[str, str]] = set()
    first_action = True
    for e in ws.timeline:
        kind, text = e.kind, e.text
        if kind == "change" and f"change:{e.ref}" not in named and e.ref not in during:
            continue
        if kind == "acknowledgement":
            continue
        if kind == "hypothesis":
            text = text.replace(e.ref, titles.get(e.ref, e.ref), 1)
        if kind == "feedback":
            fb = next((f for f in ws.feedback if f.created_at == e.ts), None)
            key = fb.cause.key if fb else ""
            if any(k == key and 0 <= e.ts - t <= SAME_ACTION for k, t in confirms):
                continue
            text = text.replace(key, titles.get(key, key), 1) if key else text
        if kind in ("hypothesis", "feedback") and first_action:
            text += " (first responder action)"
            first_action = False
        if (kind, text) in seen:
            continue
        seen.add((kind, text))
        out.append(replace(e, text=text))
    return out


def _tests_section(inc: IncidentView) -> list[str]:
    """The confirm tests whatchanged ran: verdict, candidate, numbers, the query, per signal the test."""
    if not inc.tests:
        return []
    names = {c.cause: c.name for c in inc.candidates}
    lines = ["", "### Confirm tests run", ""]
    for t in inc.tests:
        lines.append(f"- {utc(t.at)} **{t.verdict.value}** {_md(names.get(t.cause, t.cause.key))}: {_md(t.reason)}")
        if t.query:
            lines.append(f"  - Query: `{t.query.replace('`', chr(39))}`")
        for sig in t.signals:
            if sig.test:
                role = inc.role(sig.signal)
                lines.append(f"  - {sig.signal}: new {signal_value(role, sig.new_level)} vs old "
                             f"{signal_value(role, sig.old_level)} (n {sig.n_new:g} vs {sig.n_old:g}, "
                             f"{sig.steps} steps, "
                             f"{sig.test}, p(worse) {sig.p_worse:.3g}, p(not material) {sig.p_not_material:.3g}): "
                             f"{sig.verdict.value}")
    return lines


def render_postmortem(view: WorkspaceView | Mapping[str, Any], *, url: str = "") -> str:
    """Render a workspace view (see :func:`daemon.workspace.view.build_view`) as a Markdown draft."""
    ws = WorkspaceView.coerce(view)
    inc = ws.incident
    onset = inc.began
    title = render_symptom(inc)
    cause = likely_cause(inc)
    related = lineage(inc)
    end = inc.resolved_at
    lines = [f"# Postmortem draft: {_md(title)}", ""]
    lines += [f"- Incident: `{inc.id}`" + (f" ({url})" if url else ""),
              *([f"- Ranking: {_md(cause)}"] if cause else []),
              f"- State: {inc.state}" + (f" (re-opened {inc.reopened}×)" if inc.reopened else ""),
              *([f"- Related: {_md(related)}"] if related else []),
              f"- Onset: {utc(onset)}; resolved: {utc(end)}", ""]
    lines += ["## Timeline", "", "| time (UTC) | event | what |", "| --- | --- | --- |"]
    for e in postmortem_timeline(ws):
        lines.append(f"| {utc(e.ts)} | {e.kind} | {_md(e.text)} |")
    lines += ["", "## Impact", ""]
    lasted = max(0.0, (end if end is not None else ws.now) - onset)
    lines.append(f"- Duration: {duration(lasted)}" + ("" if end is not None else " so far (still open)"))
    lines.append(f"- Services affected: {', '.join(inc.services) if inc.services else 'none recorded'}")
    if inc.paged_at is not None:
        lines.append(f"- Time to page: {duration(inc.paged_at - onset)} after onset")
    if ws.acknowledged_at is not None:
        lines.append(f"- Time to first responder action: {duration(ws.acknowledged_at - onset)} after onset")
    for r in inc.responses or ():
        lines.append(f"- Response: {_md(response_name(r))}, {duration(r.ts - onset)} after onset")
    points = {s.series: s.points for s in ws.series}
    for a in inc.anomalies:
        until = a.recovered_at or float("inf")
        during = [v for t, v in points.get(a.series, ()) if a.onset <= t <= until]
        peak = (max(during) if a.direction == "up" else min(during)) if during else None
        role = inc.role(a.signal)
        peak_txt = f", worst {signal_value(role, peak)}" if peak is not None else ""
        lines.append(f"- {a.service} {a.signal.replace('_', ' ')}: {signal_value(role, a.before)} → "
                     f"{signal_value(role, a.after)}{peak_txt} (onset {utc(a.onset)}"
                     + (f", recovered {utc(a.recovered_at)})" if a.recovered_at else ")"))
    lines += ["", "## Candidates", ""]
    if not inc.candidates:
        lines.append("No candidate was found.")
    shown, folded = shown_candidates(inc)
    for n, c in enumerate(shown, 1):  # numbered as listed: refuted ones moved to the dead ends leave no gap
        state = f" — **{c.state}**" if c.state else ""
        note = f" ({_md(c.note)})" if c.note else ""
        lines.append(f"{n}. ({probability(c.score)}) {_md(c.name)}{state}{note}")
        lines.append(f"   - Hypothesis: {_md(c.hypothesis)}")
        lines.append(f"   - Test: {_md(c.test)}")
        for ev in c.evidence:
            lines.append(f"   - Evidence: {_md(ev)}")
    if folded:
        lines.append(f"\nAlso considered, each under 1%: {_md(', '.join(c.name for c in folded))}.")
    lines += _tests_section(inc)
    rec = inc.recommendation
    if rec:
        lines += ["", f"Recommendation ({rec.action}): {_md(rec.why)}"]
        if rec.command and is_shell_command(rec.command):
            lines += ["", "```sh", rec.command, "```"]
        elif rec.command:
            lines += ["", f"Action: {_md(rec.command)}."]
    lines += ["", "## Dead ends", ""]
    if not inc.dead_ends:
        lines.append("None recorded.")
    for g in dead_end_groups(inc.dead_ends):
        if len(g.titles) == 1:
            lines.append(f"- {_md(g.titles[0])}: {_md(g.reason)}")
        else:
            lines.append(f"- {_md(g.reason[:1].upper() + g.reason[1:])} ({len(g.titles)}): {_md(', '.join(g.titles))}")
    confirmed = [c for c in inc.candidates if c.state == "confirmed"]
    lines += ["", "## Root cause", ""]
    if confirmed:
        lines += [f"Confirmed by the responders: {_md(c.name)}" + (f" ({_md(c.note)})" if c.note else "") + "."
                  for c in confirmed]
    elif ws.feedback:
        fb = ws.feedback[-1]
        note = f" ({_md(fb.note)})" if fb.note else ""
        lines.append(f"Responder feedback: the cause was {_md(fb.cause.key)}{note}.")
    else:
        lines.append("_Not confirmed yet: fill in._")
    refuted = [d for d in inc.dead_ends if d.refuted_at is not None]
    if refuted:
        lines += ["", "Ruled out by the responders: " + "; ".join(f"{_md(d.name)} ({_md(d.reason)})" for d in refuted)
                  + "."]
    lines += ["", "## Follow-ups", ""]
    for name, what in FOLLOW_UPS:
        lines.append(f"- [ ] **{name}**: {what}. Owner: _ _, due: _ _")
    return "\n".join(lines) + "\n"
