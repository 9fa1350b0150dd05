"""The postmortem draft, in Markdown, ready to paste: timeline, impact, candidates, dead ends, follow-ups."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ..notify.render import render_title
from .hypotheses import cause_key

__all__ = ["FOLLOW_UPS", "render_postmortem"]

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


def render_postmortem(view: Mapping[str, Any], *, url: str = "") -> str:
    """Render a workspace view (see :func:`daemon.workspace.view.build_view`) as a Markdown draft."""
    doc = view
    title = render_title(dict(doc))
    end = doc.get("resolved_at")
    lines = [f"# Postmortem draft: {_md(title)}", ""]
    lines += [f"- Incident: `{doc['id']}`" + (f" ({url})" if url else ""),
              f"- State: {doc['state']}" + (f" (re-opened {doc['reopened']}×)" if doc.get("reopened") else ""),
              f"- Onset: {_ts(doc['onset'])}; resolved: {_ts(end)}", ""]
    lines += ["## Timeline", "", "| time (UTC) | event | what |", "| --- | --- | --- |"]
    for e in doc.get("timeline", []):
        lines.append(f"| {_ts(e['ts'])} | {e['kind']} | {_md(e['text'])} |")
    lines += ["", "## Impact", ""]
    duration = (float(end) if end is not None else float(doc["now"])) - float(doc["onset"])
    services = doc.get("services") or []
    lines.append(f"- Duration: {_duration(duration)}" + ("" if end is not None else " so far (still open)"))
    lines.append(f"- Services affected: {', '.join(services) if services else 'none recorded'}")
    if doc.get("paged_at") is not None:
        lines.append(f"- Time to page: {_duration(float(doc['paged_at']) - float(doc['onset']))} after onset")
    if doc.get("acknowledged_at") is not None:
        lines.append(f"- Time to first responder action: "
                     f"{_duration(float(doc['acknowledged_at']) - float(doc['onset']))} after onset")
    points = {s["series"]: s.get("points", []) for s in doc.get("series", [])}
    for a in doc.get("anomalies", []):
        until = a.get("recovered_at") or float("inf")
        during = [p[1] for p in points.get(a.get("series", ""), []) if a["onset"] <= p[0] <= until]
        peak = (max(during) if a["direction"] == "up" else min(during)) if during else None
        peak_txt = f", worst {peak:.4g}" if peak is not None else ""
        lines.append(f"- {a['service']} {a['signal'].replace('_', ' ')}: {a['before']:.4g} → {a['after']:.4g}"
                     f"{peak_txt} (onset {_ts(a['onset'])}"
                     + (f", recovered {_ts(a['recovered_at'])})" if a.get("recovered_at") else ")"))
    lines += ["", "## Candidates", ""]
    cands = doc.get("candidates") or []
    if not cands:
        lines.append("No candidate was found.")
    for c in cands:
        state = f" — **{c['hypothesis_state']}**" if c.get("hypothesis_state") else ""
        note = f" ({_md(c['hypothesis_note'])})" if c.get("hypothesis_note") else ""
        lines.append(f"{c['rank']}. ({c['score']:.2f}) {_md(c.get('title') or c['cause'])}{state}{note}")
        lines.append(f"   - Hypothesis: {_md(c['hypothesis'])}")
        lines.append(f"   - Test: {_md(c['test'])}")
        for ev in c.get("evidence", []):
            lines.append(f"   - Evidence: {_md(ev)}")
    rec = doc.get("recommendation") or {}
    if rec:
        lines += ["", f"Recommendation ({rec.get('action')}): {_md(rec.get('why', ''))}"]
        if rec.get("command"):
            lines += ["", "```sh", str(rec["command"]), "```"]
    lines += ["", "## Dead ends", ""]
    dead = doc.get("dead_ends") or []
    if not dead:
        lines.append("None recorded.")
    for d in dead:
        lines.append(f"- {_md(d.get('title') or d['cause'])}: {_md(d['reason'])}")
    confirmed = [c for c in cands if c.get("hypothesis_state") == "confirmed"]
    fb = doc.get("feedback") or []
    lines += ["", "## Root cause", ""]
    if confirmed:
        lines += [f"Confirmed by the responders: {_md(c.get('title') or c['cause'])}." for c in confirmed]
    elif fb:
        lines.append(f"Responder feedback: the cause was {_md(cause_key(fb[-1]['cause']))}"
                     + (f" ({_md(fb[-1]['note'])})" if fb[-1].get("note") else "") + ".")
    else:
        lines.append("_Not confirmed yet: fill in._")
    lines += ["", "## Follow-ups", ""]
    for name, what in FOLLOW_UPS:
        lines.append(f"- [ ] **{name}**: {what}. Owner: _ _, due: _ _")
    return "\n".join(lines) + "\n"
