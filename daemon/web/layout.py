"""What the incident page shows and in which order, pure: folded candidates, grouped dead ends,
the zoomed time range, signals by relevance, the markers on the time axis, inline Markdown.

The page puts what a responder needs first: the title with the likely cause, the
recommendation, the candidates that matter, then the plots zoomed on the incident.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup, escape

from ..notify.render import NEAR_ZERO, format_value, is_shell_command, likely_cause, render_symptom, unit_of
from ..workspace.hypotheses import cause_key

__all__ = ["MIN_SPAN", "dead_end_groups", "inline_markdown", "layout", "markers", "order_series", "split_candidates",
           "zoom_range"]

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


def split_candidates(candidates: Sequence[Mapping[str, Any]]) -> tuple[list[Mapping[str, Any]],
                                                                        list[Mapping[str, Any]]]:
    """``(shown, folded)``: candidates scoring next to nothing are folded (the top one is always shown,
    and so is one a responder has marked).

    >>> shown, folded = split_candidates([{"rank": 1, "score": 0.9}, {"rank": 2, "score": 0.001},
    ...                                   {"rank": 3, "score": 0.0, "hypothesis_state": "investigating"}])
    >>> [c["rank"] for c in shown], [c["rank"] for c in folded]
    ([1, 3], [2])
    """
    shown, folded = [], []
    for i, c in enumerate(candidates):
        if i == 0 or float(c.get("score", 0.0)) >= NEAR_ZERO or c.get("hypothesis_state"):
            shown.append(c)
        else:
            folded.append(c)
    return shown, folded


_SCORE = re.compile(r"\s*\((?:score [0-9.]+|under 1%|[0-9]+%)\)")


def dead_end_groups(dead_ends: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Dead ends grouped by reason (a score in the reason does not split a group), largest group last.

    >>> g = dead_end_groups([{"title": "a", "reason": "less likely than the top 5 (under 1%)"},
    ...                      {"title": "b", "reason": "less likely than the top 5 (2%)"},
    ...                      {"title": "c", "reason": "came 2 min after the onset"}])
    >>> [(x["reason"], x["titles"]) for x in g]
    [('came 2 min after the onset', ['c']), ('less likely than the top 5', ['a', 'b'])]
    """
    groups: dict[str, list[str]] = {}
    for d in dead_ends:
        reason = _SCORE.sub("", str(d.get("reason", ""))).strip()
        title = str(d.get("title") or cause_key(d.get("cause") or {}))
        groups.setdefault(reason, []).append(title)
    order = sorted(groups.items(), key=lambda kv: (len(kv[1]) > 1, len(kv[1])))
    return [{"reason": r, "titles": t} for r, t in order]


def _candidate_times(view: Mapping[str, Any], shown: Sequence[Mapping[str, Any]]) -> list[float]:
    changes = {c["id"]: float(c["ts"]) for c in view.get("changes") or []}
    out = []
    for c in shown:
        cause = c.get("cause") or {}
        if cause.get("type") == "change" and cause.get("id") in changes:
            out.append(changes[cause["id"]])
        elif cause.get("type") == "dependency":
            out += [float(h["ts"]) for h in view.get("health") or []
                    if h.get("target") == cause.get("target") and not h.get("healthy")]
    return out


def zoom_range(view: Mapping[str, Any], shown: Sequence[Mapping[str, Any]]) -> tuple[float, float]:
    """From somewhat before the earliest shown candidate (or the onset) to now (or the window's end).

    >>> v = {"onset": 10_000.0, "window": {"start": 0.0, "end": 10_600.0}, "changes": [{"id": "c", "ts": 9_000.0}]}
    >>> zoom_range(v, [{"cause": {"type": "change", "id": "c"}}])
    (8600.0, 10600.0)
    >>> zoom_range(v, [])  # at least MIN_SPAN
    (9700.0, 10600.0)
    """
    end = float(view["window"]["end"])
    first = min([float(view["onset"]), *[t for t in _candidate_times(view, shown) if t <= float(view["onset"])]])
    span = max(MIN_SPAN, (end - first) * (1 + LEAD))
    start = max(float(view["window"]["start"]), min(first - (end - first) * LEAD, end - span))
    return start, end


_ROLE = {"%": 0, "ms": 1, "req/s": 2}


def order_series(view: Mapping[str, Any], shown: Sequence[Mapping[str, Any]]) -> list[int]:
    """Indexes of ``view["series"]`` by relevance: anomalous series first (the likely cause's service,
    then by onset), then errors before latency before traffic."""
    onsets = {a.get("series"): float(a["onset"]) for a in view.get("anomalies") or []}
    changes = {c["id"]: c for c in view.get("changes") or []}
    top_service = ""
    if shown:
        cause = shown[0].get("cause") or {}
        top_service = str(changes.get(cause.get("id"), {}).get("service") or cause.get("service") or "")
    services = list(view.get("services") or [])

    def key(i: int) -> tuple[Any, ...]:
        s = view["series"][i]
        anomalous = s.get("series") in onsets
        return (not anomalous, s.get("service") != top_service,
                onsets.get(s.get("series"), float("inf")),
                services.index(s["service"]) if s.get("service") in services else len(services),
                _ROLE.get(unit_of(str(s.get("signal", ""))), 3), str(s.get("series", "")))

    return sorted(range(len(view.get("series") or [])), key=key)


def markers(view: Mapping[str, Any], shown: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The events drawn on every time axis. ``label`` is set for the ones that matter (onset, page,
    candidate changes and changes to affected services, health transitions); the rest are drawn faintly.
    ``priority``: labels are placed in this order (the onset, then the candidates by rank) so that the
    ones that matter most get a place on a crowded axis."""
    out: list[dict[str, Any]] = [{"ts": float(view["onset"]), "kind": "onset", "label": "onset", "priority": 0}]
    if view.get("paged_at") is not None:
        out.append({"ts": float(view["paged_at"]), "kind": "page", "label": "paged", "priority": 60})
    rank = {(c.get("cause") or {}).get("id"): i for i, c in enumerate(shown, 1)}
    affected = set(view.get("services") or [])
    for c in view.get("changes") or []:
        strong = c["id"] in rank or c.get("service") in affected
        out.append({"ts": float(c["ts"]), "kind": "change" if strong else "background",
                    "label": f"{c.get('kind', 'change')} {c.get('service', '')}".strip() if strong else "",
                    "title": str(c.get("summary") or c["id"]), "priority": rank.get(c["id"], 70)})
    for h in view.get("health") or []:
        state = "healthy" if h.get("healthy") else "unhealthy"
        out.append({"ts": float(h["ts"]), "kind": state, "label": f"{h.get('target')} {state}", "priority": 50})
    return sorted(out, key=lambda m: m["ts"])


def layout(view: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the incident template needs beside the view itself."""
    shown, folded = split_candidates(view.get("candidates") or [])
    start, end = zoom_range(view, shown)
    rec = view.get("recommendation") or {}
    command = str(rec.get("command") or "")
    series = view.get("series") or []
    units = {str(s.get("series")): unit_of(str(s.get("signal", ""))) for s in series}
    levels = [f"{a['service']} {a['signal'].replace('_', ' ')} {format_value(a['signal'], a['before'])} → "
              f"{format_value(a['signal'], a['after'])}" for a in view.get("anomalies") or []]
    return {
        "symptom": render_symptom(dict(view)),
        "likely": likely_cause(dict(view)),
        "shown": shown,
        "folded": folded,
        "dead_end_groups": dead_end_groups(view.get("dead_ends") or []),
        "zoom": {"start": start, "end": end},
        "order": order_series(view, shown),
        "markers": markers(view, shown),
        "units": units,
        "levels": levels,
        "command": command if command and is_shell_command(command) else "",
        "action_prose": command if command and not is_shell_command(command) else "",
    }
