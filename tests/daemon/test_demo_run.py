"""`make run`'s demo: the daemon on the simulated shop pages its first incident within 3 minutes."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from correlators.types import Topology
from daemon.demo.source import DemoSource, demo_shop, prepare_store
from daemon.runtime.daemon import Daemon
from daemon.sources.base import SourceStatus
from daemon.store import Store

from .helpers import FakeClock, RecordingNotifier

START = 1_795_000_000.0


async def test_demo_opens_and_pages_an_incident_within_three_minutes(sqlite_store: Store,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="whatchanged.demo")
    clock = FakeClock(START)

    async def sleep(seconds: float) -> None:  # virtual time: the demo runs as fast as the CPU allows
        clock.now += seconds
        await asyncio.sleep(0)

    shop = demo_shop(START, seed=7, step=10.0, every=360.0, first_after=90.0)
    status = SourceStatus("demo")
    rec = RecordingNotifier()
    daemon = Daemon(store=sqlite_store, topology=Topology.from_services(shop.topology()),
                    sources=[DemoSource(shop, status, clock=clock, sleep=sleep)], notifiers={"rec": rec},
                    statuses=[status], step=10.0, clock=clock)
    task = asyncio.create_task(daemon.run())
    try:
        for _ in range(3000):
            await asyncio.sleep(0.005)
            if rec.pages or clock.now > START + 400:
                break
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 20)
    assert rec.pages, "no page within the demo's first minutes"
    first = rec.pages[0][1]
    assert first.action == "trigger"
    assert first.ts - START <= 180.0, f"first page {first.ts - START:.0f}s after start"
    truth = shop.truth()[0]
    assert set(first.incident["services"]) & set(truth["services"])
    incidents = (await sqlite_store.incidents.find())
    assert incidents and incidents[0]["candidates"]
    # the injection was logged as it happened, with its truth, before the page
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("demo: injecting")]
    assert said and said[0].startswith("demo: injecting a bad deploy on "), said
    assert f"truth: cause change {truth['cause']['id']}" in said[0] and truth["services"][0] in said[0]


def test_demo_store_is_kept_across_restarts_unless_fresh(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    assert prepare_store(db, fresh=False) is False  # nothing to keep yet
    db.write_bytes(b"earlier run")
    Path(f"{db}-wal").write_bytes(b"wal")
    assert prepare_store(db, fresh=False) is True and db.read_bytes() == b"earlier run"
    assert prepare_store(db, fresh=True) is False and not db.exists() and not Path(f"{db}-wal").exists()


def test_a_restarted_demo_gives_its_changes_new_ids() -> None:
    """On a kept store the same seed would repeat the change ids of the earlier run (taken as duplicates)."""
    def first_run(run: str) -> tuple[set[str], str]:
        shop = demo_shop(START, seed=7, step=10.0, every=360.0, first_after=90.0, run=run)
        ids = {c.id for k in range(40) for c in shop.tick(shop.start + 3600 + k * 10.0).changes}
        return ids, shop.truth()[0]["cause"]["id"]

    ids, truth = first_run("")
    again, truth_again = first_run("run-1:")
    assert ids and not ids & again
    assert truth in ids and truth_again in again  # the truth names the id the change was emitted with
