"""Render an incident document into the page a responder reads."""

from __future__ import annotations

import time
from typing import Any

__all__ = ["render_text", "render_title"]


def _clock(ts: float | None) -> str:
    return time.strftime("%H:%M", time.gmtime(ts)) if ts else "?"


def _level(signal: str, v: float) -> str:
    if "error" in signal and 0.0 <= v <= 1.0:
        return f"{v:.1%}"
    if "latency" in signal or "seconds" in signal:
        return f"{v * 1000:.0f} ms" if v < 10 else f"{v:.1f} s"
    return f"{v:.4g}"


def render_title(doc: dict[str, Any]) -> str:
    """``checkout: error ratio 0.4% → 5.1% since 03:02 UTC (frontend affected)``."""
    anomalies = sorted(doc.get("anomalies", []), key=lambda a: (a["onset"], a["service"]))
    if not anomalies:
        return f"incident {doc.get('id', '?')}"
    a = anomalies[0]
    others = [s for s in doc.get("services", []) if s != a["service"]]
    affected = f" ({', '.join(others[:4])}{' …' if len(others) > 4 else ''} affected)" if others else ""
    return (f"{a['service']}: {a['signal'].replace('_', ' ')} {_level(a['signal'], a['before'])} → "
            f"{_level(a['signal'], a['after'])} since {_clock(doc.get('onset'))} UTC{affected}")


def render_text(doc: dict[str, Any], *, max_candidates: int = 3) -> str:
    lines = []
    for c in doc.get("candidates", [])[:max_candidates]:
        lines.append(f"{c['rank']}. ({c['score']:.2f}) {c.get('title') or c['cause']}")
        lines.append(f"   Hypothesis: {c['hypothesis']}")
        lines.append(f"   Confirm: {c['test']}")
    if doc.get("low_confidence"):
        lines.append("Low confidence: no candidate clearly explains this.")
    rec = doc.get("recommendation") or {}
    if rec.get("command"):
        lines.append(f"Recommended ({rec.get('action')}): {rec['command']}")
    if rec.get("why"):
        lines.append(f"Why: {rec['why']}")
    dead = doc.get("dead_ends", [])
    if dead:
        ruled = "; ".join(f"{d.get('title') or d['cause']} ({d['reason']})" for d in dead[:3])
        lines.append(f"Ruled out: {ruled}{' …' if len(dead) > 3 else ''}")
    return "\n".join(lines)


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
              "test": c.get("test", "")} for c in doc.get("candidates", [])[:max_candidates]]
    dead = [{"cause": d.get("title") or str(d.get("cause")), "reason": d.get("reason", "")}
            for d in doc.get("dead_ends", [])[:max_dead_ends]]
    anomalies = [f"{a['service']} {a['signal']} {a['before']:.4g} → {a['after']:.4g}"
                 for a in doc.get("anomalies", [])[:10]]
    return {"incident": doc.get("id", ""), "state": doc.get("state", ""), "services": doc.get("services", []),
            "candidates": cands, "dead_ends": dead, "recommendation": doc.get("recommendation") or {},
            "low_confidence": bool(doc.get("low_confidence")), "anomalies": anomalies}
