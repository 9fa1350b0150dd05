"""The daemon end to end on event time: one page per incident, resolve on recovery, restarts never page twice."""

from __future__ import annotations

import asyncio

from daemon.notify.types import Retryable
from daemon.runtime.daemon import Daemon
from daemon.store import Store

from .helpers import SHOP, FakeClock, ListSource, RecordingNotifier, shop_events

T0 = 1_790_000_000.0


def _daemon(store: Store, rec: RecordingNotifier, events: list) -> Daemon:  # type: ignore[type-arg]
    return Daemon(store=store, topology=SHOP, sources=[ListSource(events)], notifiers={rec.name: rec},
                  clock=FakeClock(T0 + 10_000), step=30.0, checkpoint_every=3600)


async def _run_until_drained(d: Daemon, expected_pages: int, rec: RecordingNotifier) -> None:
    """Run until every event of the (single) list source was processed and the outbox is empty."""
    last = max(ev.ts for s in d.sources for ev in s._events)  # type: ignore[attr-defined]
    task = asyncio.create_task(d.run())
    for _ in range(1000):
        await asyncio.sleep(0.02)
        if (d.engine.now >= last and d.queue.empty() and len(rec.pages) >= expected_pages
                and await d.store.notifications.depth() == 0):
            break
    d.stop()
    await asyncio.wait_for(task, 10)


async def test_incident_pages_once_and_resolves(store: Store) -> None:
    rec = RecordingNotifier()
    d = _daemon(store, rec, shop_events(T0, 160, bad_from=80, bad_until=120))
    await _run_until_drained(d, 2, rec)
    actions = [p.action for _, p in rec.pages]
    assert actions.count("trigger") == 1, actions
    assert actions[-1] == "resolve"
    assert len({p.dedup_key for _, p in rec.pages}) == 1
    trigger = next(p for _, p in rec.pages if p.action == "trigger")
    assert "checkout" in trigger.title
    incidents = await store.incidents.find()
    assert len(incidents) == 1 and incidents[0]["state"] == "resolved"


async def test_restart_resumes_without_paging_twice(store: Store) -> None:
    events = shop_events(T0, 160, bad_from=80)
    rec = RecordingNotifier()
    d1 = _daemon(store, rec, events[: len(events) * 5 // 8])  # stops mid-incident, after the page
    await _run_until_drained(d1, 1, rec)
    assert [p.action for _, p in rec.pages] == ["trigger"]
    # A new process: restores the checkpoint and the open incident, sees the rest of the stream,
    # and a source that re-delivers some already-seen samples (a catch-up overlap).
    rec2 = RecordingNotifier()
    d2 = _daemon(store, rec2, events[len(events) * 5 // 8 - 40:])
    await _run_until_drained(d2, 0, rec2)
    assert [p.action for _, p in rec2.pages if p.action == "trigger"] == []
    assert len(await store.incidents.find()) == 1


async def test_receiver_failures_are_retried_not_lost(store: Store) -> None:
    rec = RecordingNotifier(fail_with=[Retryable("HTTP 500"), Retryable("HTTP 429", retry_after=0.0)])
    d = _daemon(store, rec, shop_events(T0, 100, bad_from=80))
    d.outbox.retry.base = 0.0  # retry at once in the test
    clock = d.clock
    assert isinstance(clock, FakeClock)
    task = asyncio.create_task(d.run())
    for _ in range(300):
        await asyncio.sleep(0.02)
        clock.now += 5
        if rec.pages:
            break
    d.stop()
    await asyncio.wait_for(task, 10)
    assert [p.action for _, p in rec.pages] == ["trigger"]
    sent = await store.notifications.find()
    assert sent[0].status == "sent" and sent[0].attempts == 3



async def test_changes_from_streams_are_stored(store: Store) -> None:
    from correlators.types import Change, ChangeKind
    rec = RecordingNotifier()
    ch = Change("chg-stream-1", T0 + 60, ChangeKind.DEPLOY, "checkout", "shop", "checkout rollout 3 -> 4", "k8s",
                {"from_revision": "3", "to_revision": "4"})
    d = _daemon(store, rec, [ch, *shop_events(T0, 10)])
    await _run_until_drained(d, 0, rec)
    assert [c.id for c in await store.changes.find()] == ["chg-stream-1"]


async def test_a_submitted_change_is_written_once_and_a_change_handed_to_the_core_is_stored(
        sqlite_store: Store) -> None:
    """submit_changes stores a change before its 2xx; the core must not write it (and its forward) again:
    under load that second write doubled the contention on SQLite's write lock."""
    import sqlalchemy as sa

    from correlators.types import Change, ChangeKind

    writes: list[str] = []

    def count(_conn: object, _cur: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO CHANGES"):
            writes.append(statement)

    sa.event.listen(sqlite_store.engine.sync_engine, "before_cursor_execute", count)
    d = Daemon(store=sqlite_store, topology=SHOP, sources=[], notifiers={}, clock=FakeClock(T0))
    ch = Change("chg-once", T0, ChangeKind.DEPLOY, "checkout", "shop", "deploy", "ci")
    assert await d.submit_changes([ch], source="api") == [True]
    out = await d.handle(d.queue.get_nowait())
    assert len(writes) == 1 and d.engine.change("chg-once") == ch and out.changes == []
    direct = Change("chg-direct", T0 + 1, ChangeKind.CONFIG, "checkout", "shop", "flag", "k8s")
    await d.handle(direct)  # straight to the core (not through submit_changes): the core stores it
    assert len(writes) == 2 and [c.id for c in await sqlite_store.changes.find()] == ["chg-direct", "chg-once"]


async def test_whole_steps_as_batches_page_and_resolve_once(store: Store) -> None:
    from daemon.core.events import Sample, SampleBatch, batched
    flat = shop_events(T0, 160, bad_from=80, bad_until=120)
    per_step: dict[float, list] = {}  # type: ignore[type-arg]
    for ev in flat:
        per_step.setdefault(ev.ts, []).append(ev)
    events = list(batched([e for evs in per_step.values()  # each query's result per step, as Prometheus gives
                           for e in sorted(evs, key=lambda e: getattr(e, "signal", "~"))]))
    assert sum(isinstance(e, SampleBatch) and len(e) == 4 for e in events) == 2 * 160
    rec = RecordingNotifier()
    d = _daemon(store, rec, events)
    await _run_until_drained(d, 2, rec)
    actions = [p.action for _, p in rec.pages]
    assert actions.count("trigger") == 1 and actions[-1] == "resolve", actions
    samples = [e for e in flat if isinstance(e, Sample)]
    assert d.metrics.samples._value.get() == len(samples) + 160  # and the probes, counted as before
    assert set(d.workspace.buffer.keys()) == {s.key for s in samples}
    assert d.engine.series_count == 8


def test_seasonal_signals_choose_the_detector_and_the_bank(sqlite_store: Store) -> None:
    """``detection.seasonal``: listed signals learn a daily shape; the rest run the paging detector."""
    from detectors import DetectorBank, EnvelopeShift, SeasonalCusum

    default = Daemon(store=sqlite_store, topology=SHOP, sources=[], notifiers={}, clock=FakeClock(T0))
    assert isinstance(default.engine.detector_factory("request_rate"), SeasonalCusum)
    assert isinstance(default.engine.bank_factory("request_rate"), DetectorBank)
    assert isinstance(default.engine.detector_factory("error_ratio"), EnvelopeShift)
    plain = Daemon(store=sqlite_store, topology=SHOP, sources=[], notifiers={}, clock=FakeClock(T0), seasonal=[])
    assert isinstance(plain.engine.detector_factory("request_rate"), EnvelopeShift)
