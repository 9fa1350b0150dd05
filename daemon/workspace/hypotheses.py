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
    dead_ends: list[dict[str, Any]] = []
    refuted: list[dict[str, Any]] = []
    seen: set[str] = set()

    def refute(cause: Mapping[str, Any], title: str, st: Mapping[str, Any]) -> None:
        who = f" by {st['actor']}" if st.get("actor") else ""
        refuted.append({"cause": dict(cause), "title": title,
                        "reason": f"refuted{who}: {st['note']}" if st["note"] else f"refuted{who}",
                        "refuted_at": st["since"], "hypothesis_note": st["note"]})

    for cand in doc.get("candidates") or []:
        key = cause_key(cand["cause"])
        seen.add(key)
        st = states.get(key)
        c = {**cand, "hypothesis_state": st["state"] if st else None,
             "hypothesis_note": st["note"] if st else "", "hypothesis_since": st["since"] if st else None}
        if st and st["state"] == HypothesisState.REFUTED.value:
            refute(cand["cause"], cand.get("title", ""), st)
        else:
            candidates.append(c)
    # A responder's answer survives every re-rank: a confirmed or refuted cause that a later ranking
    # put below the shown candidates (or dropped) keeps its state and its note.
    for d in doc.get("dead_ends") or []:
        key = cause_key(d["cause"])
        st = states.get(key)
        if key in seen or st is None:
            dead_ends.append(dict(d))
            continue
        seen.add(key)
        if st["state"] == HypothesisState.REFUTED.value:
            refute(d["cause"], d.get("title", ""), st)
        elif st["state"] == HypothesisState.CONFIRMED.value:
            candidates.append(_kept(d["cause"], d.get("title", ""), st, f"ranked lower since: {d.get('reason', '')}"))
        else:
            dead_ends.append({**d, "hypothesis_state": st["state"], "hypothesis_note": st["note"]})
    for key, st in states.items():
        if key in seen or "cause" not in st:
            continue
        if st["state"] == HypothesisState.REFUTED.value:
            refute(st["cause"], key, st)
        elif st["state"] == HypothesisState.CONFIRMED.value:
            candidates.append(_kept(st["cause"], key, st, "no longer among the ranked causes"))
    return {**doc, "candidates": candidates, "dead_ends": refuted + dead_ends}


def _kept(cause: Mapping[str, Any], title: str, st: Mapping[str, Any], why: str) -> dict[str, Any]:
    """A confirmed cause the ranking no longer shows, kept among the candidates as the responders said."""
    return {"rank": None, "cause": dict(cause), "title": title or cause_key(cause), "score": 0.0,
            "hypothesis": "confirmed by the responders", "test": "", "evidence": [why],
            "hypothesis_state": st["state"], "hypothesis_note": st["note"], "hypothesis_since": st["since"]}


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
