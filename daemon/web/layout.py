"""What the incident page shows and in which order, pure: folded candidates, grouped dead ends,
the zoomed time range, signals by relevance, the markers on the time axis, inline Markdown.

The page puts what a responder needs first: the title with the likely cause, the
recommendation, the candidates that matter, then the plots zoomed on the incident.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

from correlators.display import unit
from correlators.signals import SignalRole
from correlators.types import CauseType
from correlators.view import CandidateView

from ..notify.render import (
    dead_end_groups,
    is_shell_command,
    likely_cause,
    render_symptom,
    shown_candidates,
    symptom_level,
)
from ..workspace.model import WorkspaceView

__all__ = ["MIN_SPAN", "inline_markdown", "layout", "markers", "order_series", "zoom_range"]

MIN_SPAN = 15 * 60.0   # the zoomed plots show at least this much time
LEAD = 0.25            # and start this fraction of the span before the earliest candidate


def inline_markdown(text: str) -> Markup:
    """Escape ``text``, then render inline code and bold; the result is safe HTML.

    >>> str(inline_markdown("run `kubectl get pods -l app=<x>` **now**"))
    'run <code>kubectl get pods -l app=&lt;x&gt;</code> <strong>now</strong>'
    """
    html = str(escape(text))
    html = re.sub(r"`([^`]+)`", r"<code>\1</code>", html)
    html = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", html)
    return Markup(html)


def _candidate_times(ws: WorkspaceView, shown: Sequence[CandidateView]) -> list[float]:
    changes = {c.id: c.ts for c in ws.changes}
    out = []
    for c in shown:
        if c.cause.type is CauseType.CHANGE and c.cause.ref in changes:
            out.append(changes[c.cause.ref])
        elif c.cause.type is CauseType.DEPENDENCY:
            out += [h.ts for h in ws.health if h.target == c.cause.ref and not h.healthy]
    return out


def zoom_range(ws: WorkspaceView, shown: Sequence[CandidateView]) -> tuple[float, float]:
    """From somewhat before the earliest shown candidate (or the onset) to now (or the window's end).

    >>> from correlators.types import Cause
    >>> v = WorkspaceView.from_json({"onset": 10_000.0, "window": {"start": 0.0, "end": 10_600.0},
    ...                              "changes": [{"id": "c", "ts": 9_000.0}]})
    >>> zoom_range(v, [CandidateView(1, Cause(CauseType.CHANGE, "c"), 0.9)])
    (8600.0, 10600.0)
    >>> zoom_range(v, [])  # at least MIN_SPAN
    (9700.0, 10600.0)
    """
    w_start, end = ws.window
    onset = ws.incident.onset
    first = min([onset, *[t for t in _candidate_times(ws, shown) if t <= onset]])
    span = max(MIN_SPAN, (end - first) * (1 + LEAD))
    start = max(w_start, min(first - (end - first) * LEAD, end - span))
    return start, end


_ROLE_ORDER = {SignalRole.ERRORS: 0, SignalRole.LATENCY: 1, SignalRole.TRAFFIC: 2}


def order_series(ws: WorkspaceView, shown: Sequence[CandidateView]) -> list[int]:
    """Indexes of ``ws.series`` by relevance: anomalous series first (the likely cause's service,
    then by onset), then errors before latency before traffic."""
    inc = ws.incident
    onsets = {a.series: a.onset for a in inc.anomalies}
    top_service = ""
    if shown:
        cause = shown[0].cause
        if cause.type is CauseType.CHANGE:
            ch = ws.change(cause.ref)
            top_service = ch.service if ch else ""
        elif cause.type is CauseType.TRAFFIC:
            top_service = cause.ref
    services = list(inc.services)

    def key(i: int) -> tuple[Any, ...]:
        s = ws.series[i]
        anomalous = s.series in onsets
        return (not anomalous, s.service != top_service, onsets.get(s.series, float("inf")),
                services.index(s.service) if s.service in services else len(services),
                _ROLE_ORDER.get(inc.role(s.signal), 3), s.series)

    return sorted(range(len(ws.series)), key=key)


def markers(ws: WorkspaceView, shown: Sequence[CandidateView]) -> list[dict[str, Any]]:
    """The events drawn on every time axis. ``label`` is set for the ones that matter (onset, page,
    candidate changes and changes to affected services, health transitions); the rest are drawn faintly.
    ``priority``: labels are placed in this order (the onset, then the candidates by rank) so that the
    ones that matter most get a place on a crowded axis."""
    inc = ws.incident
    out: list[dict[str, Any]] = [{"ts": inc.onset, "kind": "onset", "label": "onset", "priority": 0}]
    if inc.paged_at is not None:
        out.append({"ts": inc.paged_at, "kind": "page", "label": "paged", "priority": 60})
    rank = {c.cause.ref: i for i, c in enumerate(shown, 1) if c.cause.type is CauseType.CHANGE}
    affected = set(inc.services)
    for c in ws.changes:
        strong = c.id in rank or c.service in affected
        out.append({"ts": c.ts, "kind": "change" if strong else "background",
                    "label": f"{c.kind.value} {c.service}".strip() if strong else "",
                    "title": c.summary or c.id, "priority": rank.get(c.id, 70)})
    for h in ws.health:
        state = "healthy" if h.healthy else "unhealthy"
        out.append({"ts": h.ts, "kind": state, "label": f"{h.target} {state}", "priority": 50})
    return sorted(out, key=lambda m: m["ts"])


def layout(ws: WorkspaceView) -> dict[str, Any]:
    """Everything the incident template needs beside the view itself."""
    inc = ws.incident
    shown, folded = shown_candidates(inc)
    start, end = zoom_range(ws, shown)
    command = inc.recommendation.command if inc.recommendation else ""
    units = {s.series: unit(inc.role(s.signal)) for s in ws.series}
    tested = {h.cause_key for h in ws.hypotheses}
    untested = [c for c in inc.candidates if c.cause.key not in tested]
    return {
        "symptom": render_symptom(inc),
        "likely": likely_cause(inc),
        "shown": shown,
        "folded": folded,
        "next_candidate": untested[0] if untested else None,
        "dead_end_groups": dead_end_groups(inc.dead_ends),
        "zoom": {"start": start, "end": end},
        "order": order_series(ws, shown),
        "markers": markers(ws, shown),
        "units": units,
        "levels": [symptom_level(inc, a) for a in inc.anomalies],
        "lasted": ws.now - inc.began,
        "command": command if command and is_shell_command(command) else "",
        "action_prose": command if command and not is_shell_command(command) else "",
    }
