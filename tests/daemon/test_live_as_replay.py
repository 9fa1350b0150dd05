"""Live as in replay (issue 14): history read at start-up pages only what is still open at its head,
events arriving out of order never stop the page decision."""

from __future__ import annotations

import asyncio
import random

from correlators.incidents import PageKind
from correlators.types import IncidentState
from daemon.config import DeliveryConfig
from daemon.core.engine import Engine, EngineOutput
from daemon.core.events import CatchUp, Event, Sample
from daemon.runtime.daemon import Daemon
from daemon.store import Store

from .helpers import SHOP, FakeClock, ListSource, RecordingNotifier, shop_events
from .test_real_noise import STEP, T0, engine, feed, normal, triggers

HEAD = T0 + 335 * STEP


def _history(eng: Engine, rng: random.Random) -> EngineOutput:
    """Five hours of quiet, a payments outage that recovers (300-305), then one at frontend still open at the head."""
    out = feed(eng, 300, rng=rng)
    out.extend(feed(eng, 5, 300, rng=rng, override={("payments", "error_ratio"): 0.3}))
    out.extend(feed(eng, 25, 305, rng=rng))
    out.extend(feed(eng, 6, 330, rng=rng, override={("frontend", "latency_p99_seconds"): 20.0}))
    return out


def _by_service(eng: Engine, service: str) -> list[str]:
    """The incidents of the injected outages (the quiet hours hold a few immaterial ones, never paged)."""
    return [i.id for i in eng.incidents.values() if service in i.services and i.onset >= T0 + 300 * STEP]


def test_catch_up_history_records_a_recovered_outage_and_pages_only_what_is_open_at_the_head() -> None:
    eng = engine()
    eng.ingest(CatchUp(HEAD, "prometheus"))
    out = _history(eng, random.Random(11))
    (recovered,) = _by_service(eng, "payments")
    assert eng.incidents[recovered].state is IncidentState.RESOLVED
    assert eng.incidents[recovered].paged_at is None, "an outage over before the head is recorded, never paged"
    (still_open,) = _by_service(eng, "frontend")
    assert triggers(out) == [still_open]
    trigger = next(p for p in out.pages if p.kind is PageKind.TRIGGER)
    assert trigger.ts >= HEAD, "paged at the head of the data, not while reading history"
    assert not [p for p in out.pages if p.kind is PageKind.RESOLVE], "nothing paged, nothing to resolve"


def test_without_a_catch_up_marker_the_same_data_pages_both_outages() -> None:
    """The control: the marker is what keeps the recovered outage from paging."""
    eng = engine()
    out = _history(eng, random.Random(11))
    assert set(triggers(out)) >= set(_by_service(eng, "payments") + _by_service(eng, "frontend"))


def test_the_catch_up_marker_does_not_move_the_clock() -> None:
    eng = engine()
    feed(eng, 10, rng=random.Random(1))
    now = eng.now
    eng.ingest(CatchUp(now + 3600.0))
    assert eng.now == now and eng.in_history


def test_a_late_sample_of_one_series_still_pages() -> None:
    """Checkout's scrape runs late: frontend's and payments' samples of later steps are already in
    (the engine's clock is ahead) when checkout's outage arrives; it is detected and paged all the same."""
    eng, rng = engine(), random.Random(12)
    feed(eng, 300, rng=rng)
    out = EngineOutput()
    for m in range(300, 306):  # the others run three steps ahead of checkout
        for svc in ("frontend", "payments"):
            for sig in ("error_ratio", "latency_p99_seconds", "request_rate", "cpu_utilisation"):
                out.extend(eng.ingest(Sample(T0 + (m + 3) * STEP, svc, sig, normal(rng, sig))))
        for sig in ("error_ratio", "latency_p99_seconds", "request_rate", "cpu_utilisation"):
            late = Sample(T0 + m * STEP, "checkout", sig, 0.3 if sig == "error_ratio" else normal(rng, sig))
            assert late.ts < eng.now
            out.extend(eng.ingest(late))
    out.extend(eng.flush())
    ids = triggers(out)
    assert len(ids) == 1 and eng.incidents[ids[0]].services == ["checkout"]


# -- the daemon: a catch-up at start-up ------------------------------------------------------------

D0 = 1_790_000_000.0


def _daemon(store: Store, rec: RecordingNotifier, events: list[Event], *, resolve_hold: float = 0.0) -> Daemon:
    return Daemon(store=store, topology=SHOP, sources=[ListSource(events)], notifiers={rec.name: rec},
                  clock=FakeClock(D0 + 100_000), step=30.0, checkpoint_every=3600,
                  delivery=DeliveryConfig(resolve_hold=resolve_hold))


async def _drain(d: Daemon, rec: RecordingNotifier, expected_pages: int) -> None:
    last = max(ev.ts for s in d.sources for ev in s._events if not isinstance(ev, CatchUp))  # type: ignore[attr-defined]
    task = asyncio.create_task(d.run())
    for _ in range(1500):
        await asyncio.sleep(0.02)
        if (d.engine.now >= last and d.queue.empty() and len(rec.pages) >= expected_pages
                and await d.store.notifications.depth() == 0):
            break
    await asyncio.sleep(0.3)  # a page decided at the last flush would show by now
    d.stop()
    await asyncio.wait_for(task, 10)


async def test_the_daemon_records_a_recovered_outage_of_its_catch_up_and_pages_nothing(store: Store) -> None:
    history = shop_events(D0, 160, bad_from=80, bad_until=120)
    rec = RecordingNotifier()
    await _drain(_daemon(store, rec, [CatchUp(D0 + 159 * 30.0, "prometheus"), *history]), rec, 0)
    assert rec.pages == []
    (inc,) = await store.incidents.find()
    assert inc["state"] == "resolved" and inc["paged_at"] is None and "checkout" in inc["services"]


async def test_a_resolve_found_in_the_catch_up_after_a_restart_is_not_held_on_wall_time(store: Store) -> None:
    events = shop_events(D0, 200, bad_from=80, bad_until=120)
    rec = RecordingNotifier()
    await _drain(_daemon(store, rec, events[: len(events) * 100 // 200], resolve_hold=600.0), rec, 1)
    assert [p.action for _, p in rec.pages] == ["trigger"]
    # Restarted: the catch-up holds the recovery 40 steps (20 min) before its head. The wall clock
    # stands still here: a resolve held 10 minutes of wall time would never go out.
    rec2 = RecordingNotifier()
    rest = events[len(events) * 100 // 200:]
    await _drain(_daemon(store, rec2, [CatchUp(D0 + 199 * 30.0), *rest], resolve_hold=600.0), rec2, 1)
    assert [p.action for _, p in rec2.pages] == ["resolve"]


async def test_without_the_catch_up_marker_the_resolve_is_held(store: Store) -> None:
    """The control of the test above: a live resolve is held ``resolve_hold`` of wall time."""
    events = shop_events(D0, 200, bad_from=80, bad_until=120)
    rec = RecordingNotifier()
    await _drain(_daemon(store, rec, events[: len(events) * 100 // 200], resolve_hold=600.0), rec, 1)
    rec2 = RecordingNotifier()
    await _drain(_daemon(store, rec2, events[len(events) * 100 // 200:], resolve_hold=600.0), rec2, 0)
    assert rec2.pages == []
    assert await store.notifications.depth() == 1
