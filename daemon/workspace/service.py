"""The workspace of a running daemon: series snapshots, incident views, the hypothesis loop, silences."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from correlators.types import Cause

from ..core.events import Sample, SampleBatch
from ..core.ports import CoreView, FeedbackSink, NoteSink
from ..core.series_buffer import SeriesBuffer
from ..store import Store
from .hypotheses import HypothesisState, cause_key
from .updates import send_incident_note
from .view import build_view, window_of

__all__ = ["SNAPSHOT_EVERY", "Workspace", "WorkspaceError"]

log = logging.getLogger("whatchanged.workspace")

SNAPSHOT_EVERY = 60.0  # seconds of wall time between snapshots of an open incident's series


class WorkspaceError(Exception):
    """A request the workspace cannot honour; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.field, self.message, self.status = field, message, status


def _merge(*point_lists: list[list[float]] | list[tuple[float, float]]) -> list[list[float]]:
    merged: dict[float, float] = {}
    for pts in point_lists:
        for t, v in pts:
            merged[float(t)] = float(v)
    return [[t, merged[t]] for t in sorted(merged)]


class Workspace:
    """What the incident pages and their API need of a running daemon: the store, what the core
    knows (:class:`~daemon.core.ports.CoreView`), and where feedback and notes go."""

    def __init__(self, store: Store, core: CoreView, buffer: SeriesBuffer, *, clock: Callable[[], float],
                 feedback: FeedbackSink, notes: NoteSink) -> None:
        self.store = store
        self.core = core
        self.buffer = buffer
        self.clock = clock
        self.feedback = feedback
        self.notes = notes
        self.db = store
        self._snapped: dict[str, tuple[float, str, frozenset[str]]] = {}
        self._last_note_ts: dict[str, float] = {}

    # -- series ------------------------------------------------------------------------
    def record_sample(self, s: Sample) -> None:
        self.buffer.add(s.key, s.ts, s.value)

    def record_batch(self, b: SampleBatch) -> None:
        add, ts = self.buffer.add, b.ts
        for key, value in zip(b.keys, b.values, strict=True):
            add(key, ts, value)

    def _series_of(self, doc: dict[str, Any], now: float) -> list[dict[str, Any]]:
        start, end = window_of(doc, now)
        out: dict[str, dict[str, Any]] = {}
        for a in list(doc.get("anomalies", [])) + list(doc.get("traffic", [])):
            key = a.get("series") or f"{a['service']}/{a['signal']}"
            if key not in out:
                pts = self.buffer.window(key, start, end)
                out[key] = {"series": key, "service": a["service"], "signal": a["signal"],
                            "points": [[t, v] for t, v in pts]}
        return list(out.values())

    async def snapshot_open(self) -> None:
        """Snapshot every open incident now (the daemon calls this with each checkpoint and at shutdown)."""
        for inc in list(self.core.open_incidents()):
            await self.snapshot(inc.to_json(), self.core.now, force=True)

    async def snapshot(self, doc: dict[str, Any], event_now: float, *, force: bool = False) -> None:
        """Persist the series around the incident (throttled; at once when its state or series changed)."""
        wall = self.clock()
        series = self._series_of(doc, max(event_now, float(doc["onset"])))
        keys = frozenset(s["series"] for s in series)
        last = self._snapped.get(doc["id"])
        if not force and last is not None and last[1:] == (doc["state"], keys) and wall - last[0] < SNAPSHOT_EVERY:
            return
        series = [s for s in series if s["points"]]
        if not series:
            return
        stored = {s["series"]: s for s in await self.db.snapshots.load(doc["id"])}
        for s in series:  # keep what an earlier run stored (the buffer is empty after a restart)
            if s["series"] in stored:
                s["points"] = _merge(stored[s["series"]]["points"], s["points"])
        await self.db.snapshots.save(doc["id"], series, wall)
        self._snapped[doc["id"]] = (wall, doc["state"], keys)

    # -- the full view ------------------------------------------------------------------
    async def view(self, incident_id: str) -> dict[str, Any] | None:
        doc = await self.store.incidents.get(incident_id)
        if doc is None:
            return None
        core_now = self.core.now
        now = max(self.clock(), core_now if core_now > float("-inf") else 0.0)
        # the daemon's clock is wall time; in replays and tests event time may run ahead of it
        start, end = window_of(doc, now)
        stored = {s["series"]: s for s in await self.db.snapshots.load(incident_id)}
        series = []
        for s in self._series_of(doc, now):
            old = stored.pop(s["series"], None)
            pts = _merge(old["points"] if old else [], s["points"])
            series.append({**s, "points": [p for p in pts if start <= p[0] <= end]})
        series += list(stored.values())
        # changes posted to the API are stored; those from sources may live only in the engine's memory
        known = {c.id: c for c in await self.store.changes.find(since=start, until=end, limit=500)}
        for c in self.core.changes_known_at(end):
            if start <= c.ts <= end:
                known.setdefault(c.id, c)
        changes = sorted((c.to_json() for c in known.values()), key=lambda c: (c["ts"], c["id"]))
        health = [h.to_json() for h in reversed(await self.store.health.find(since=start, until=end, limit=500))]
        notes = [{"receiver": n.receiver, "action": n.action, "status": n.status, "attempts": n.attempts,
                  "last_error": n.last_error, "created_at": n.created_at, "sent_at": n.sent_at}
                 for n in await self.store.notifications.find(incident_id=incident_id)]
        feedback = [{k: v for k, v in f.items() if k != "id"} for f in await self.store.feedback.find(incident_id)]
        hyps = await self.db.hypotheses.find(incident_id)
        services = set(doc.get("services", []))
        silences = [s for s in await self.db.silences.find()
                    if (s["service"] == "*" or s["service"] in services) and s["starts_at"] <= end
                    and s["ends_at"] >= start]
        return build_view(doc, now=now, series=series, changes=changes, health=health, notifications=notes,
                          feedback=feedback, hypotheses=hyps, silences=silences)

    # -- the hypothesis loop ----------------------------------------------------------------
    async def set_hypothesis(self, incident_id: str, cause: Cause, state: HypothesisState, note: str,
                             actor: str) -> dict[str, Any]:
        """Record a candidate's new state, tell the receivers, and feed a confirmed cause to learning."""
        doc = await self.store.incidents.get(incident_id)
        if doc is None:
            raise WorkspaceError("id", "no such incident", 404)
        key = cause_key(cause.to_json())
        known = {cause_key(c["cause"]): c for c in doc.get("candidates") or []}
        known.update({cause_key(x["cause"]): x for x in doc.get("dead_ends") or []})
        if key not in known:
            raise WorkspaceError("cause", f"{key} is not a candidate of {incident_id}")
        now = self.clock()
        hid = await self.db.hypotheses.add(incident_id, cause.to_json(), key, state.value, note, actor, now)
        title = known[key].get("title") or key
        who = f" by {actor}" if actor else ""
        text = f"Hypothesis {state.value}{who}: {title}" + (f" — {note}" if note else "")
        ts = max(now, self._last_note_ts.get(incident_id, float("-inf")) + 1.0)  # one outbox key per note
        self._last_note_ts[incident_id] = ts
        queued = await send_incident_note(self.notes, doc, text, ts)
        feedback_id = None
        if state is HypothesisState.CONFIRMED:
            feedback_id = await self.feedback.record_feedback(incident_id, cause, note or "confirmed in the workspace",
                                                              actor)
        log.info("incident %s: %s", incident_id, text, extra={"incident_id": incident_id})
        return {"id": hid, "incident_id": incident_id, "cause": cause.to_json(), "state": state.value,
                "note": note, "actor": actor, "created_at": now, "notified": queued, "feedback_id": feedback_id}

    # -- silences ---------------------------------------------------------------------------
    async def silenced(self, services: list[str], ts: float) -> bool:
        """True when every service of the incident is silenced at ``ts`` (``*`` silences all)."""
        active = await self.db.silences.find(active_at=ts)
        if not active:
            return False
        names = {s["service"] for s in active}
        return "*" in names or (bool(services) and all(s in names for s in services))

