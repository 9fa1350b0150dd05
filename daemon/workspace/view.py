"""Assemble an incident's full view: the document, its plots, timeline, changes, health and hypotheses.

Pure: the caller fetches from the store and the series buffer; this module shapes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from correlators.display import duration

from ..notify.render import lineage
from .hypotheses import apply_states, cause_key, investigation

__all__ = ["AFTER", "BEFORE", "acknowledged_at", "build_view", "timeline", "titled_tests", "window_of"]

BEFORE = 3 * 3600.0   # plots and the change list start this long before the onset
AFTER = 3600.0        # and end this long after resolution (or now, while open)


def window_of(doc: Mapping[str, Any], now: float) -> tuple[float, float]:
    """``(start, end)`` of the incident's surroundings.

    >>> window_of({"onset": 10_000.0, "resolved_at": None}, now=12_000.0)
    (-800.0, 12000.0)
    """
    start = float(doc["onset"]) - BEFORE
    resolved = doc.get("resolved_at")
    end = min(now, float(resolved) + AFTER) if resolved is not None else now
    return start, max(end, float(doc["onset"]))


def acknowledged_at(feedback: Sequence[Mapping[str, Any]], hypotheses: Sequence[Mapping[str, Any]]) -> float | None:
    """The first responder action on the incident (a hypothesis marked or feedback given)."""
    times = [float(f["created_at"]) for f in feedback] + [float(h["created_at"]) for h in hypotheses]
    return min(times) if times else None


def _sent_at(notifications: Sequence[Mapping[str, Any]], action: str) -> float | None:
    times = [float(n["sent_at"]) for n in notifications if n.get("action") == action and n.get("sent_at")]
    return min(times) if times else None


def timeline(doc: Mapping[str, Any], *, changes: Sequence[Mapping[str, Any]], health: Sequence[Mapping[str, Any]],
             notifications: Sequence[Mapping[str, Any]], feedback: Sequence[Mapping[str, Any]],
             hypotheses: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Everything that happened, oldest first: ``{"ts", "kind", "text"}``."""
    out: list[dict[str, Any]] = []
    responses = {str(r["id"]) for r in doc.get("responses") or []}
    for c in changes:
        progress = " (rollout in progress)" if c.get("status") == "progressing" else ""
        if c["id"] in responses:  # made after the page, in response: never a candidate
            out.append({"ts": c["ts"], "kind": "response", "ref": c["id"],
                        "text": f"response: {c['kind']} {c['service']}: {c.get('summary') or c['id']}{progress}"})
            continue
        out.append({"ts": c["ts"], "kind": "change",
                    "text": f"{c['kind']} {c['service']}: {c.get('summary') or c['id']}{progress}", "ref": c["id"]})
        if c.get("status") in ("complete", "failed") and c.get("completed_at") is not None:
            verb = "finished" if c["status"] == "complete" else "failed"
            reason = (c.get("attributes") or {}).get("status_reason") if c["status"] == "failed" else ""
            out.append({"ts": c["completed_at"], "kind": "change", "ref": c["id"],
                        "text": f"{c['kind']} {c['service']}: rollout {verb}" + (f" ({reason})" if reason else "")})
    for h in health:
        state = "healthy" if h["healthy"] else "unhealthy"
        out.append({"ts": h["ts"], "kind": "health", "text": f"{h['target']} became {state}"
                    + (f" ({h['detail']})" if h.get("detail") else ""), "ref": h["target"]})
    out.append({"ts": doc["onset"], "kind": "onset", "text": "onset of the anomaly (estimated change point)"})
    out.append({"ts": doc["opened_at"], "kind": "detection", "text": "detected; incident opened"})
    if doc.get("paged_at") is not None:
        sent = _sent_at(notifications, "trigger")
        extra = "" if sent is None else f" (receiver accepted after {max(0.0, sent - doc['paged_at']):.0f}s)"
        out.append({"ts": doc["paged_at"], "kind": "page", "text": "paged" + extra})
    ack = acknowledged_at(feedback, hypotheses)
    if ack is not None:
        out.append({"ts": ack, "kind": "acknowledgement", "text": "acknowledged (first responder action)"})
    for h in hypotheses:
        who = f" by {h['actor']}" if h.get("actor") else ""
        note = f": {h['note']}" if h.get("note") else ""
        out.append({"ts": h["created_at"], "kind": "hypothesis",
                    "text": f"{h['state']} {h['cause_key']}{who}{note}", "ref": h["cause_key"]})
    for f in feedback:
        who = f" by {f['actor']}" if f.get("actor") else ""
        note = f" ({f['note']})" if f.get("note") else ""
        out.append({"ts": f["created_at"], "kind": "feedback",
                    "text": f"feedback{who}: the cause was {cause_key(f['cause'])}{note}"})
    for t in titled_tests(doc):  # the confirm tests whose outcome the last ranking used
        out.append({"ts": t["at"], "kind": "test", "ref": cause_key(t["cause"]),
                    "text": f"confirm test of {t['title']}: {t['line']}"})
    if doc.get("resolved_at") is not None:
        out.append({"ts": doc["resolved_at"], "kind": "resolution", "text": "resolved: all anomalies recovered"})
    if doc.get("reopened"):
        out.append({"ts": doc["opened_at"], "kind": "detection",
                    "text": f"re-opened {doc['reopened']}× since: the same outage came back"})
    if doc.get("follows"):
        by = doc.get("follows_by")
        out.append({"ts": doc["opened_at"], "kind": "detection", "ref": doc["follows"],
                    "text": f"follows {doc['follows']}" + (f" (began {duration(float(by))} after it resolved)"
                                                           if by is not None else "")
                    + ": a new outage, its own incident and page"})
    if doc.get("merged_into"):
        out.append({"ts": doc.get("resolved_at") or doc["opened_at"], "kind": "resolution",
                    "text": f"merged into {doc['merged_into']}: one outage, one page", "ref": doc["merged_into"]})
    order = {"change": 0, "health": 1, "onset": 2, "detection": 3, "page": 4, "acknowledgement": 5,
             "response": 6, "test": 7, "hypothesis": 7, "feedback": 8, "resolution": 9}
    return sorted(out, key=lambda e: (float(e["ts"]), order[e["kind"]]))


def titled_tests(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The incident's confirm tests, each with its candidate's title (``checkout rollout revision 14 -> 15``)."""
    titles = {cause_key(c["cause"]): str(c.get("title") or "")
              for c in [*(doc.get("candidates") or []), *(doc.get("dead_ends") or [])]}
    return [{**t, "title": titles.get(cause_key(t["cause"])) or cause_key(t["cause"])} for t in doc.get("tests") or []]


def build_view(doc: Mapping[str, Any], *, now: float, series: Sequence[Mapping[str, Any]],
               changes: Sequence[Mapping[str, Any]], health: Sequence[Mapping[str, Any]],
               notifications: Sequence[Mapping[str, Any]], feedback: Sequence[Mapping[str, Any]],
               hypotheses: Sequence[Mapping[str, Any]],
               silences: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The incident with hypothesis states applied, plus everything the workspace page shows."""
    view = apply_states(doc, hypotheses)
    start, end = window_of(doc, now)
    view.update({
        "now": now,
        "window": {"start": start, "end": end},
        "series": [dict(s) for s in series],
        "changes": [dict(c) for c in changes],
        "health": [dict(h) for h in health],
        "notifications": [dict(n) for n in notifications],
        "feedback": [dict(f) for f in feedback],
        "hypotheses": [dict(h) for h in hypotheses],
        "silences": [dict(s) for s in silences],
        "acknowledged_at": acknowledged_at(feedback, hypotheses),
        "lineage": lineage(dict(doc)),
        "investigation": investigation(view["candidates"], hypotheses, now)
        if doc.get("state") == "open" else None,
        "timeline": timeline(doc, changes=changes, health=health, notifications=notifications,
                             feedback=feedback, hypotheses=hypotheses),
        "tests": titled_tests(doc),
    })
    return view
