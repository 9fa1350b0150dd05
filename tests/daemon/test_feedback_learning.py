"""POST /api/v1/incidents/{id}/feedback teaches the ranking, and what it learned survives a restart."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from correlators.ranking import DEFAULT_WEIGHTS, rank
from correlators.types import Cause, Change, ChangeKind
from daemon.api.app import create_app
from daemon.runtime.daemon import Daemon
from daemon.store import Store

from .helpers import SHOP, FakeClock, RecordingNotifier, shop_events

T0 = 1_790_000_000.0


def _daemon(store: Store) -> Daemon:
    return Daemon(store=store, topology=SHOP, sources=[], notifiers={"rec": RecordingNotifier()},
                  clock=FakeClock(T0 + 10_000), step=30.0)


async def test_feedback_updates_the_weights_persists_them_and_reorders_later_rankings(sqlite_store: Store) -> None:
    d = _daemon(sqlite_store)
    # checkout gets a new release and a config change at the same instant; then it fails.
    at = T0 + 78 * 30
    changes = [Change("chg-dep", at, ChangeKind.DEPLOY, "checkout", "shop", "checkout rollout 14 -> 15",
                      attributes={"from_revision": "14"}),
               Change("chg-cfg", at, ChangeKind.CONFIG, "checkout", "shop", "configmap checkout-config updated")]
    events = sorted([*shop_events(T0, 120, bad_from=80), *changes], key=lambda e: e.ts)
    for ev in events:
        await d.handle(ev)
    await d.flush()
    inc = next(iter(d.engine.incidents.values()))
    assert inc.ranking is not None
    assert inc.ranking.candidates[0].cause.ref == "chg-dep"  # the prior prefers the deploy

    async with TestClient(TestServer(create_app(d))) as client:
        r = await client.post(f"/api/v1/incidents/{inc.id}/feedback",
                              json={"cause": {"type": "change", "id": "chg-cfg"}, "note": "bad timeout value"})
        assert r.status == 201, await r.text()
    learned = d.learner.weights()
    assert learned["kind_config"] > DEFAULT_WEIGHTS["kind_config"]
    assert learned["kind_deploy"] < DEFAULT_WEIGHTS["kind_deploy"]

    # A restarted daemon ranks with what was learned, not with the priors.
    d2 = _daemon(sqlite_store)
    await d2.restore()
    assert d2.learner.weights() == learned and d2.learner.updates == 1
    again = rank(inc, changes, [], SHOP, policy=d2.engine.ranking_policy, weights=d2.engine.weights())
    assert again.candidates[0].cause.ref == "chg-cfg"


async def test_feedback_naming_something_never_shown_is_stored_but_teaches_nothing(sqlite_store: Store) -> None:
    d = _daemon(sqlite_store)
    for ev in shop_events(T0, 120, bad_from=80):
        await d.handle(ev)
    await d.flush()
    inc = next(iter(d.engine.incidents.values()))
    await d.record_feedback(inc.id, Cause.from_json({"type": "change", "id": "chg-unrecorded"}), "manual edit", "alice")
    assert d.learner.updates == 0 and d.learner.weights() == dict(DEFAULT_WEIGHTS)
    assert len(await sqlite_store.feedback.find(inc.id)) == 1
