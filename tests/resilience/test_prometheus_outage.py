"""Prometheus down for ten minutes, then back; and the wall clock jumping, on virtual time.

The real ``PrometheusSource`` (with the real prometheus-api-client over HTTP) polls a fake
Prometheus on loopback. The source's sleeps (its ``sleep`` hook) advance a fake clock instead of waiting, so an
hour passes in seconds; the fake Prometheus answers only for points up to that clock and is
down during the outage. Asserted: no page from the gap, the source reports itself stale while
down, the catch-up ingests every missed point exactly once, and an incident that began during
the outage is paged once after the catch-up.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from urllib3.util.retry import Retry

from daemon.config import PrometheusConfig, SignalConfig
from daemon.core.events import Event, Sample, SampleBatch
from daemon.runtime.daemon import Daemon
from daemon.sources.base import SourceStatus
from daemon.sources.prometheus import PrometheusSource
from daemon.store import Store
from tests.daemon.helpers import SHOP, FakeClock, RecordingNotifier

from .fakeprom import FakePrometheus

STEP = 15.0
T0 = 1_790_001_000.0 - 1_790_001_000.0 % STEP  # aligned, as Prometheus steps are
SIGNALS = [SignalConfig(name="error_ratio", query="error_ratio"), SignalConfig(name="request_rate", query="request_rate")]


class Recording:
    """Wraps a source and counts every sample timestamp per series."""

    def __init__(self, inner: PrometheusSource) -> None:
        self.name = inner.name
        self.inner = inner
        self.seen: Counter[tuple[str, float]] = Counter()

    async def events(self) -> AsyncIterator[Event]:
        async for ev in self.inner.events():
            for s in ev.samples() if isinstance(ev, SampleBatch) else [ev] if isinstance(ev, Sample) else []:
                self.seen[(s.key, s.ts)] += 1
            yield ev


def virtual_sleep(clock: FakeClock, on_sleep: Callable[[], None]) -> Callable[[float], Awaitable[None]]:
    """The Prometheus source's sleeps advance the fake clock (and take 5 ms of real time)."""

    async def sleep(delay: float) -> None:
        clock.now += delay
        on_sleep()
        await asyncio.sleep(0.005)

    return sleep


async def _run(store: Store, *, until: float, down: Callable[[float], bool],
               bad: Callable[[float, str], bool] = lambda ts, svc: False, failure: str = "503",
               jumps: dict[float, float] | None = None,
               ) -> tuple[Recording, RecordingNotifier, list[tuple[float, bool]], FakePrometheus, list[float]]:
    clock = FakeClock(T0)
    status = SourceStatus("prometheus", stale_after=120.0)
    stale_log: list[tuple[float, bool]] = []
    pending_jumps = dict(sorted((jumps or {}).items()))
    page_times: list[float] = []

    def on_sleep() -> None:
        for at in list(pending_jumps):
            if clock.now >= at:
                clock.now += pending_jumps.pop(at)  # the wall clock jumps (NTP step, VM resumed)
        stale_log.append((clock.now, status.stale(clock.now)))

    rec = RecordingNotifier()
    orig_send = rec.send

    async def send(page, *, key):  # type: ignore[no-untyped-def]
        page_times.append(clock.now)
        await orig_send(page, key=key)

    rec.send = send  # type: ignore[method-assign]
    async with FakePrometheus(clock, down=down, bad=bad, failure=failure) as fp:
        cfg = PrometheusConfig(url=fp.url, step=STEP, timeout=5.0, lookback=3600.0)
        from prometheus_api_client import PrometheusConnect
        client = PrometheusConnect(url=fp.url, retry=Retry(total=0), timeout=5)  # the source retries itself
        src = Recording(PrometheusSource(cfg, SIGNALS, status, clock=clock, client=client,
                                         sleep=virtual_sleep(clock, on_sleep)))
        d = Daemon(store=store, topology=SHOP, sources=[src], notifiers={"rec": rec}, statuses=[status],
                   clock=clock, step=STEP, checkpoint_every=3600)
        task = asyncio.create_task(d.run())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 150
        while clock.now < until and loop.time() < deadline:
            await asyncio.sleep(0.05)
        assert clock.now >= until, "the virtual hour did not pass in 150 s"
        while not d.queue.empty():
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        d.stop()
        await asyncio.wait_for(task, 60)
    return src, rec, stale_log, fp, page_times


def _expected_points(first: float, last: float) -> set[tuple[str, float]]:
    out = set()
    t = first
    while t <= last:
        for svc in ("frontend", "checkout", "payments", "search"):
            for sig in ("error_ratio", "request_rate"):
                out.add((f"{svc}/{sig}", t))
        t += STEP
    return out


DOWN_FROM, DOWN_UNTIL = T0 + 1800, T0 + 1800 + 600


@pytest.mark.parametrize("failure", ["503", pytest.param("reset", marks=pytest.mark.slow)])
async def test_outage_no_false_page_and_full_catch_up(sqlite_store: Store, failure: str) -> None:
    src, rec, stale_log, fp, _ = await _run(sqlite_store, until=T0 + 3600,
                                            down=lambda now: DOWN_FROM <= now < DOWN_UNTIL, failure=failure)
    assert fp.failed >= 3  # the outage was really hit, several times (backing off)
    assert rec.pages == []  # no page from the gap
    assert any(stale for now, stale in stale_log if DOWN_FROM + 200 < now < DOWN_UNTIL)  # /readyz said so
    assert not any(stale for now, stale in stale_log if now > DOWN_UNTIL + 600)  # and recovered
    last = max(ts for _, ts in src.seen)
    assert last >= T0 + 3600 - 3 * STEP
    first = min(ts for _, ts in src.seen)
    assert first <= T0 - 3600 + STEP
    assert set(src.seen) == _expected_points(first, last)  # every missed point caught up
    assert max(src.seen.values()) == 1  # and none twice


async def test_incident_during_outage_pages_once_after_catch_up(sqlite_store: Store) -> None:
    def bad(ts: float, svc: str) -> bool:
        return svc in ("checkout", "frontend") and DOWN_FROM + 240 <= ts < T0 + 3000

    src, rec, _, _, page_times = await _run(sqlite_store, until=T0 + 3600,
                                            down=lambda now: DOWN_FROM <= now < DOWN_UNTIL, bad=bad)
    actions = [p.action for _, p in rec.pages]
    assert actions.count("trigger") == 1, actions
    assert page_times[0] >= DOWN_UNTIL  # paged once Prometheus answered again, not before
    trigger = next(p for _, p in rec.pages if p.action == "trigger")
    assert DOWN_FROM <= trigger.incident["onset"] < DOWN_UNTIL  # dated where it began, inside the gap
    assert "checkout" in trigger.title
    assert max(src.seen.values()) == 1


@pytest.mark.slow  # ~10 s: run with -m slow
async def test_wall_clock_jumps_forward_and_back(sqlite_store: Store) -> None:
    # forward two hours at T0+15 min (catch-up of 2 h in one poll), back one hour at T0+2h40
    jumps = {T0 + 900: 7200.0, T0 + 9600: -3600.0}
    src, rec, _, _, _ = await _run(sqlite_store, until=T0 + 9600 + 1800,
                                    down=lambda now: False, jumps=jumps)
    assert rec.pages == []  # neither jump makes an anomaly
    assert max(src.seen.values()) == 1  # the backward jump re-reads nothing
    last = max(ts for _, ts in src.seen)
    assert set(src.seen) == _expected_points(min(ts for _, ts in src.seen), last)  # the forward jump skipped nothing
