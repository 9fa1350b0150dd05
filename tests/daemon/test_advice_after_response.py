"""Advice aware of what was done (issue 14): the resolve page says what helped and never carries a
command; a responder's answer survives re-ranks; postmortem times are never negative; follows and
re-opens are shown."""

from __future__ import annotations

import asyncio
from typing import Any

from correlators.types import Change, ChangeKind
from daemon.core.events import Event
from daemon.notify.render import is_shell_command, render_resolve_text, render_text
from daemon.runtime.daemon import Daemon
from daemon.store import Store
from daemon.workspace.hypotheses import apply_states
from daemon.workspace.postmortem import render_postmortem
from daemon.workspace.view import build_view

from .helpers import SHOP, FakeClock, ListSource, RecordingNotifier, shop_events

D0 = 1_790_000_000.0
STEP = 30.0


def _with(events: list[Event], *changes: Change) -> list[Event]:
    return sorted([*events, *changes], key=lambda e: (e.ts, not isinstance(e, Change)))


async def _run(store: Store, events: list[Event], expected: int, *, before: Any = None) -> RecordingNotifier:
    rec = RecordingNotifier()
    d = Daemon(store=store, topology=SHOP, sources=[ListSource(events)], notifiers={rec.name: rec},
               clock=FakeClock(D0 + 100_000), step=STEP, checkpoint_every=3600)
    last = max(ev.ts for ev in events if not isinstance(ev, Change))
    task = asyncio.create_task(d.run())
    await asyncio.sleep(0)
    if before is not None:
        await before(d)
    for _ in range(1500):
        await asyncio.sleep(0.02)
        if (d.engine.now >= last and d.queue.empty() and len(rec.pages) >= expected
                and await store.notifications.depth() == 0):
            break
    d.stop()
    await asyncio.wait_for(task, 10)
    return rec


def _commands(text: str) -> list[str]:
    """Lines (or their part after a colon) that are something to paste into a shell."""
    return [line for line in text.splitlines()
            if is_shell_command(line.strip()) or is_shell_command(line.split(": ", 1)[-1].strip())]


async def test_after_the_rollback_the_advice_is_to_watch_and_the_resolve_page_says_what_helped(store: Store) -> None:
    deploy = Change("chg-bad", D0 + 79 * STEP, ChangeKind.DEPLOY, "checkout", "shop", "checkout rollout revision 14 -> 15",
                    attributes={"from_revision": "14", "to_revision": "15"})
    undo = Change("chg-undo", D0 + 95 * STEP, ChangeKind.ROLLBACK, "checkout", "shop",
                  "checkout rollback revision 15 -> 14")
    events = _with(shop_events(D0, 160, bad_from=80, bad_until=120), deploy, undo)
    rec = await _run(store, events, 3)
    pages = [p for _, p in rec.pages]
    trigger = next(p for p in pages if p.action == "trigger")
    assert "kubectl rollout undo" in trigger.text, "before the rollback: the exact command"
    resolve = next(p for p in pages if p.action == "resolve")
    assert _commands(resolve.text) == [], resolve.text
    assert "Recovered at" in resolve.text and "Nothing to run" in resolve.text
    assert "What helped: the rollback at" in resolve.text
    assert "checkout rollback revision 15 -> 14" in resolve.text
    updates = [p for p in pages if p.action == "update" and p.ts > undo.ts]
    for u in updates:
        assert _commands(u.text) == [], u.text
    (doc,) = await store.incidents.find()
    assert doc["recommendation"]["action"] == "watch" and doc["recommendation"]["command"] == ""
    assert [r["id"] for r in doc["responses"]] == ["chg-undo"]
    assert "chg-undo" not in [c["cause"].get("id") for c in doc["candidates"]]


async def test_a_future_dated_change_posted_to_the_daemon_does_not_suppress_the_page(store: Store) -> None:
    # 2099 is refused at the edge (intake.max_future); a CI clock ten minutes ahead is accepted, and
    # must not move the engine's clock past the samples still to come either.
    far = Change("chg-2099", 4_070_908_800.0, ChangeKind.DEPLOY, "checkout", "shop", "a CI clock far ahead")
    ahead = Change("chg-ahead", D0 + 100_000 + 600, ChangeKind.DEPLOY, "checkout", "shop", "a CI clock ahead")

    async def post(d: Daemon) -> None:
        assert await d.submit_changes([far], source="api") == [False]   # what POST /api/v1/changes does
        assert await d.submit_changes([ahead], source="api") == [True]

    rec = await _run(store, shop_events(D0, 100, bad_from=80), 1, before=post)
    assert [p.action for _, p in rec.pages] == ["trigger"]


def test_the_resolve_text_without_a_response_says_so_and_carries_no_command() -> None:
    doc = {"id": "inc-1", "onset": 1000.0, "resolved_at": 1600.0, "responses": [],
           "recommendation": {"action": "rollback", "command": "kubectl rollout undo deployment/x", "why": "w"},
           "candidates": [{"rank": 1, "score": 0.9, "title": "deploy x", "cause": {"type": "change", "id": "c"},
                           "hypothesis": "h", "test": "t"}]}
    text = render_resolve_text(doc)
    assert "kubectl" not in text and "No response was recorded" in text and "10 min after onset" in text


def test_the_page_says_which_incident_it_follows() -> None:
    doc = {"id": "inc-2", "follows": "inc-1", "follows_by": 240.0, "candidates": [], "anomalies": []}
    assert "Follows inc-1 by 4 min" in render_text(doc)


async def test_follows_and_responses_are_stored_with_the_incident(store: Store) -> None:
    doc = {"id": "inc-2", "state": "open", "onset": 1000.0, "opened_at": 1060.0, "paged_at": 1070.0,
           "resolved_at": None, "services": ["checkout"], "anomalies": [], "follows": "inc-1", "follows_by": 240.0,
           "reopened": 0, "responses": [{"id": "chg-undo", "ts": 1200.0, "kind": "rollback", "service": "checkout"}]}
    await store.incidents.save(doc, now=2000.0)
    got = await store.incidents.get("inc-2")
    assert got is not None and got["follows"] == "inc-1" and got["follows_by"] == 240.0
    assert got["responses"][0]["id"] == "chg-undo"


def _cand(ref: str, score: float) -> dict[str, Any]:
    return {"rank": 1, "cause": {"type": "change", "id": ref}, "title": f"deploy {ref}", "score": score,
            "hypothesis": "h", "test": "t", "evidence": []}


def test_a_refute_and_a_confirm_survive_a_re_rank_that_drops_them_below_the_shown_candidates() -> None:
    log = [{"cause_key": "change:a", "cause": {"type": "change", "id": "a"}, "state": "refuted",
            "note": "old pods fail too", "created_at": 5.0, "actor": "ann"},
           {"cause_key": "change:b", "cause": {"type": "change", "id": "b"}, "state": "confirmed",
            "note": "errors only on the new ReplicaSet", "created_at": 6.0, "actor": "bob"}]
    reranked = {"candidates": [_cand("c", 0.8)],
                "dead_ends": [{"cause": {"type": "change", "id": "a"}, "title": "deploy a",
                               "reason": "ranked below the top 5 (score 0.00)"},
                              {"cause": {"type": "change", "id": "b"}, "title": "deploy b",
                               "reason": "ranked below the top 5 (score 0.00)"}]}
    out = apply_states(reranked, log)
    (a,) = [d for d in out["dead_ends"] if d["cause"]["id"] == "a"]
    assert a["reason"] == "refuted by ann: old pods fail too"
    (b,) = [c for c in out["candidates"] if c["cause"]["id"] == "b"]
    assert b["hypothesis_state"] == "confirmed" and b["hypothesis_note"] == "errors only on the new ReplicaSet"
    assert not [d for d in out["dead_ends"] if d["cause"]["id"] == "b"]
    # ... and both appear in the postmortem, with their notes
    doc = {"id": "inc-1", "state": "resolved", "onset": 1000.0, "first_onset": 1000.0, "opened_at": 1060.0,
           "paged_at": 1080.0, "resolved_at": 1600.0, "services": ["checkout"], "anomalies": [], **reranked}
    view = build_view(doc, now=2000.0, series=[], changes=[], health=[], notifications=[], feedback=[],
                      hypotheses=log)
    md = render_postmortem(view)
    assert "Confirmed by the responders: deploy b (errors only on the new ReplicaSet)" in md
    assert "refuted by ann: old pods fail too" in md
    # dropped from the ranking entirely: still kept
    gone = apply_states({"candidates": [_cand("c", 0.8)], "dead_ends": []}, log)
    assert [c["cause"]["id"] for c in gone["candidates"]] == ["c", "b"]
    assert gone["dead_ends"][0]["reason"] == "refuted by ann: old pods fail too"


def test_postmortem_times_are_never_negative() -> None:
    """A re-ranked onset estimate later than the page must not give "Time to page: -320s"."""
    doc = {"id": "inc-1", "state": "resolved", "onset": 1400.0, "first_onset": 1000.0, "opened_at": 1060.0,
           "paged_at": 1080.0, "resolved_at": 1600.0, "services": ["checkout"], "anomalies": [],
           "candidates": [], "dead_ends": [], "reopened": 1, "follows": "inc-0", "follows_by": 240.0,
           "responses": [{"id": "chg-undo", "ts": 1200.0, "kind": "rollback", "service": "checkout",
                          "summary": "checkout rollback revision 15 -> 14"}]}
    view = build_view(doc, now=2000.0, series=[], changes=[], health=[], notifications=[], feedback=[],
                      hypotheses=[{"cause_key": "change:a", "cause": {"type": "change", "id": "a"},
                                   "state": "investigating", "note": "", "created_at": 900.0}])
    md = render_postmortem(view)
    assert "Time to page: 1 min 20 s after onset" in md
    assert "-" not in md.split("Time to first responder action: ")[1].split(" ")[0]
    assert "Follows inc-0 by 4 min" in md and "re-opened 1×" in md
    assert "Response: the rollback at" in md


async def test_the_rollback_shows_as_a_response_on_the_api_the_page_and_the_postmortem(store: Store) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from daemon.api.app import create_app

    from .workspace_helpers import START, feed_incident, make_daemon

    daemon = make_daemon(store)
    undo = Change("chg-ws-undo", START + 95 * STEP, ChangeKind.ROLLBACK, "checkout", "shop",
                  "checkout rollback revision 15 -> 14")
    inc_id = await feed_incident(daemon, steps=160, bad_until=120, extra=[undo])
    async with TestClient(TestServer(create_app(daemon))) as client:
        view = await (await client.get(f"/api/v1/incidents/{inc_id}")).json()
        assert view["recommendation"]["action"] == "watch" and view["recommendation"]["command"] == ""
        assert [e["kind"] for e in view["timeline"] if e.get("ref") == "chg-ws-undo"] == ["response"]
        assert "chg-ws-undo" not in [c["cause"].get("id") for c in view["candidates"]]
        html = await (await client.get(f"/incidents/{inc_id}")).text()
        assert "response: rollback checkout" in html and 'id="command"' not in html
        md = await (await client.get(f"/api/v1/incidents/{inc_id}/postmortem.md")).text()
        assert "Response: the rollback at" in md and "Recommendation (watch)" in md
        assert "rollout undo" not in md, "the rollback was made: no command to run it again"
