"""The workspace page typed: the incident view plus what surrounds it (series, changes, health, the
hypothesis log, feedback, the timeline), as the postmortem, the web page and the CLI read it.

:func:`~daemon.workspace.view.build_view` assembles the JSON form the API serves (unchanged);
:meth:`WorkspaceView.from_json` reads that form once (in the daemon, or in the CLI from the API), and
renderers read typed fields from then on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from correlators.types import Cause, Change, HealthEvent
from correlators.view import CandidateView, IncidentView, cause_from_json, change_from_json

__all__ = ["FeedbackEntry", "HypothesisEntry", "Investigation", "SeriesView", "TimelineEntry", "WorkspaceView"]


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One event of the incident's timeline (``kind``: change, health, onset, detection, page, ...)."""

    ts: float
    kind: str
    text: str
    ref: str = ""

    @classmethod
    def from_json(cls, e: Mapping[str, Any]) -> TimelineEntry:
        return cls(float(e["ts"]), str(e["kind"]), str(e["text"]), str(e.get("ref") or ""))


@dataclass(frozen=True, slots=True)
class HypothesisEntry:
    """A responder marked a candidate investigating, confirmed or refuted (the log, oldest first)."""

    cause_key: str
    state: str
    created_at: float
    note: str = ""
    actor: str = ""

    @classmethod
    def from_json(cls, h: Mapping[str, Any]) -> HypothesisEntry:
        return cls(str(h["cause_key"]), str(h.get("state") or ""), float(h["created_at"]),
                   str(h.get("note") or ""), str(h.get("actor") or ""))


@dataclass(frozen=True, slots=True)
class FeedbackEntry:
    """A responder said what the cause was."""

    cause: Cause
    created_at: float
    note: str = ""
    actor: str = ""

    @classmethod
    def from_json(cls, f: Mapping[str, Any]) -> FeedbackEntry:
        return cls(cause_from_json(f.get("cause")), float(f["created_at"]), str(f.get("note") or ""),
                   str(f.get("actor") or ""))


@dataclass(frozen=True, slots=True)
class SeriesView:
    """A series plotted around the incident: ``(ts, value)`` points."""

    series: str
    service: str
    signal: str
    points: tuple[tuple[float, float], ...] = ()

    @classmethod
    def from_json(cls, s: Mapping[str, Any]) -> SeriesView:
        return cls(str(s.get("series") or ""), str(s.get("service") or ""), str(s.get("signal") or ""),
                   tuple((float(p[0]), float(p[1])) for p in s.get("points") or ()))


@dataclass(frozen=True, slots=True)
class Investigation:
    """The hypothesis under investigation, for how long, and the next candidate to try once it drags on."""

    cause_key: str
    title: str
    since: float
    elapsed: float
    overdue: bool
    suggest_next: CandidateView | None

    @classmethod
    def from_json(cls, i: Mapping[str, Any]) -> Investigation:
        nxt = i.get("suggest_next")
        return cls(str(i["cause_key"]), str(i.get("title") or ""), float(i["since"]), float(i["elapsed"]),
                   bool(i.get("overdue")), CandidateView.from_json(nxt) if nxt else None)


def _health_from_json(h: Mapping[str, Any]) -> HealthEvent:
    return HealthEvent(float(h.get("ts", 0.0)), str(h.get("target") or ""), bool(h.get("healthy")),
                       str(h.get("detail") or ""))


@dataclass(frozen=True, slots=True)
class WorkspaceView:
    """An incident's workspace: the incident (candidates with their hypothesis states applied) and
    everything around it the page, the CLI and the postmortem show."""

    incident: IncidentView
    now: float
    window: tuple[float, float]
    series: tuple[SeriesView, ...] = ()
    changes: tuple[Change, ...] = ()
    health: tuple[HealthEvent, ...] = ()
    feedback: tuple[FeedbackEntry, ...] = ()
    hypotheses: tuple[HypothesisEntry, ...] = ()
    acknowledged_at: float | None = None
    lineage: str = ""
    investigation: Investigation | None = None
    timeline: tuple[TimelineEntry, ...] = ()

    @classmethod
    def coerce(cls, view: WorkspaceView | Mapping[str, Any]) -> WorkspaceView:
        return view if isinstance(view, WorkspaceView) else cls.from_json(view)

    @classmethod
    def from_json(cls, view: Mapping[str, Any]) -> WorkspaceView:
        """Read the API's form of an incident's view (``GET /api/v1/incidents/{id}``); parts it lacks are empty."""
        inc = IncidentView.from_json(view)
        window = view.get("window") or {}
        inv = view.get("investigation")
        return cls(
            incident=inc, now=float(view.get("now", inc.onset)),
            window=(float(window.get("start", inc.onset)), float(window.get("end", inc.onset))),
            series=tuple(SeriesView.from_json(s) for s in _seq(view, "series")),
            changes=tuple(change_from_json(c) for c in _seq(view, "changes")),
            health=tuple(_health_from_json(h) for h in _seq(view, "health")),
            feedback=tuple(FeedbackEntry.from_json(f) for f in _seq(view, "feedback")),
            hypotheses=tuple(HypothesisEntry.from_json(h) for h in _seq(view, "hypotheses")),
            acknowledged_at=None if view.get("acknowledged_at") is None else float(view["acknowledged_at"]),
            lineage=str(view.get("lineage") or ""),
            investigation=Investigation.from_json(inv) if inv else None,
            timeline=tuple(TimelineEntry.from_json(e) for e in _seq(view, "timeline")),
        )

    def change(self, change_id: str) -> Change | None:
        return next((c for c in self.changes if c.id == change_id), None)


def _seq(view: Mapping[str, Any], key: str) -> Sequence[Mapping[str, Any]]:
    got = view.get(key)
    return got if isinstance(got, Sequence) else ()
