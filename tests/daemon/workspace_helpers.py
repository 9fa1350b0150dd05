"""A daemon holding one real incident (a bad checkout deploy), for the workspace tests."""

from __future__ import annotations

from collections.abc import Sequence

from correlators.types import Change, ChangeKind
from daemon.api.auth import ApiTokens
from daemon.runtime.daemon import Daemon
from daemon.store import Store

from .helpers import SHOP, FakeClock, RecordingNotifier, shop_events

START = 1_790_000_000.0
STEP = 30.0
EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'
DEPLOY = Change("chg-ws-1", START + 78 * STEP, ChangeKind.DEPLOY, "checkout", "shop",
                f"checkout rollout revision 14 -> 15 {EVIL}", "ci",
                {"from_revision": "14", "to_revision": "15"})

CONFIG = Change("chg-ws-2", START + 60 * STEP, ChangeKind.CONFIG, "payments", "shop",
                "payments: raise pool size to 40", "ann", {})


def make_daemon(store: Store, clock: FakeClock | None = None, tokens: ApiTokens | None = None) -> Daemon:
    return Daemon(store=store, topology=SHOP, sources=[], notifiers={"rec": RecordingNotifier()},
                  clock=clock or FakeClock(START), step=STEP, api_tokens=tokens)


async def feed_incident(daemon: Daemon, steps: int = 120, bad_until: int | None = None,
                        extra: Sequence[Change] = ()) -> str:
    """Feed the shop with a bad deploy at step 78 and errors from step 80 (and ``extra`` changes);
    return the incident id."""
    events = shop_events(START, steps, STEP, bad_from=80, bad_until=bad_until)
    for ch in (CONFIG, DEPLOY, *extra):
        await daemon.store.changes.add([ch], received_at=ch.ts)
        at = next(i for i, ev in enumerate(events) if ev.ts >= ch.ts)
        events.insert(at, ch)
    for ev in events:
        clock = daemon.clock
        if isinstance(clock, FakeClock):
            clock.now = max(clock.now, ev.ts)
        await daemon.handle(ev)
    await daemon.flush()
    docs = await daemon.store.incidents.find()
    assert len(docs) == 1, [d["id"] for d in docs]
    return str(docs[0]["id"])
