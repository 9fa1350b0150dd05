"""The hypothesis loop, pure: responders mark candidates investigating, confirmed or refuted.

The store keeps every state change (a log); this module folds the log into each
candidate's current state, moves refuted candidates to the dead ends (the note is
the reason), and says how long the current hypothesis has been investigated and,
after :data:`SUGGEST_AFTER` seconds, which candidate to try next.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["SUGGEST_AFTER", "HypothesisState", "apply_states", "cause_key", "current_states", "investigation"]

SUGGEST_AFTER = 600.0


class HypothesisState(str, enum.Enum):
    INVESTIGATING = "investigating"
    CONFIRMED = "confirmed"
    REFUTED = "refuted"


def cause_key(cause: Mapping[str, Any]) -> str:
    """A stable key of a cause in its JSON form.

    >>> cause_key({"type": "change", "id": "chg-1"}), cause_key({"type": "none"})
    ('change:chg-1', 'none:')
    """
    kind = str(cause.get("type", ""))
    ref = cause.get("id") or cause.get("target") or cause.get("service") or ""
    return f"{kind}:{ref}"


def current_states(log: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The latest entry per cause key (the log is oldest first), with ``since`` of that state.

    >>> log = [{"cause_key": "change:a", "state": "investigating", "created_at": 10.0, "note": ""},
    ...        {"cause_key": "change:a", "state": "refuted", "created_at": 70.0, "note": "pods fine"}]
    >>> current_states(log)["change:a"]["state"], current_states(log)["change:a"]["since"]
    ('refuted', 70.0)
    """
    out: dict[str, dict[str, Any]] = {}
    for entry in log:
        out[str(entry["cause_key"])] = {**entry, "since": float(entry["created_at"])}
    return out


def apply_states(doc: Mapping[str, Any], log: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A copy of the incident document with each candidate's ``hypothesis_state`` and refuted ones as dead ends.

    >>> doc = {"candidates": [{"rank": 1, "cause": {"type": "change", "id": "a"}, "title": "deploy a"},
    ...                       {"rank": 2, "cause": {"type": "none"}, "title": "none"}], "dead_ends": []}
    >>> log = [{"cause_key": "change:a", "state": "refuted", "note": "old pods fail too", "created_at": 5.0,
    ...         "actor": "ann"}]
    >>> out = apply_states(doc, log)
    >>> [c["title"] for c in out["candidates"]], out["dead_ends"][0]["reason"]
    (['none'], 'refuted by ann: old pods fail too')
    """
    states = current_states(log)
    candidates: list[dict[str, Any]] = []
    dead_ends = [dict(d) for d in doc.get("dead_ends") or []]
    refuted: list[dict[str, Any]] = []
    for cand in doc.get("candidates") or []:
        st = states.get(cause_key(cand["cause"]))
        c = {**cand, "hypothesis_state": st["state"] if st else None,
             "hypothesis_note": st["note"] if st else "", "hypothesis_since": st["since"] if st else None}
        if st and st["state"] == HypothesisState.REFUTED.value:
            who = f" by {st['actor']}" if st.get("actor") else ""
            refuted.append({"cause": cand["cause"], "title": cand.get("title", ""),
                            "reason": f"refuted{who}: {st['note']}" if st["note"] else f"refuted{who}",
                            "refuted_at": st["since"]})
        else:
            candidates.append(c)
    return {**doc, "candidates": candidates, "dead_ends": refuted + dead_ends}


def investigation(candidates: Sequence[Mapping[str, Any]], log: Sequence[Mapping[str, Any]],
                  now: float, suggest_after: float = SUGGEST_AFTER) -> dict[str, Any] | None:
    """The hypothesis under investigation now, for how long, and the next to try when it drags on.

    ``candidates`` are those still standing (after :func:`apply_states`), best first.

    >>> cands = [{"cause": {"type": "change", "id": "a"}, "title": "A"}, {"cause": {"type": "none"}, "title": "N"}]
    >>> log = [{"cause_key": "change:a", "cause": {"type": "change", "id": "a"}, "state": "investigating",
    ...         "created_at": 0.0, "note": ""}]
    >>> investigation(cands, log, now=300.0)["suggest_next"] is None
    True
    >>> investigation(cands, log, now=660.0)["suggest_next"]["title"]
    'N'
    """
    states = current_states(log)
    active = [s for s in states.values() if s["state"] == HypothesisState.INVESTIGATING.value]
    if any(s["state"] == HypothesisState.CONFIRMED.value for s in states.values()):
        return None
    if not active:
        return None
    cur = max(active, key=lambda s: s["since"])
    elapsed = max(0.0, now - cur["since"])
    title = next((c.get("title", "") for c in candidates if cause_key(c["cause"]) == cur["cause_key"]), "")
    nxt = None
    if elapsed >= suggest_after:
        nxt = next((dict(c) for c in candidates if cause_key(c["cause"]) not in states), None)
    return {"cause_key": cur["cause_key"], "cause": cur["cause"], "title": title, "since": cur["since"],
            "elapsed": elapsed, "overdue": elapsed >= suggest_after, "suggest_next": nxt,
            "suggest_after": suggest_after}
