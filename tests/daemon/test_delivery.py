"""Delivery: nothing lost, bounded retries, no duplicates; breaker, flap damping, routing, silences, drill."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

from daemon.notify.dispatch import Dispatcher
from daemon.notify.drill import run_drill
from daemon.notify.opsgenie import OpsgenieNotifier
from daemon.notify.pagerduty import PagerDutyNotifier
from daemon.notify.retry import RetryPolicy
from daemon.notify.routing import Route, Router
from daemon.notify.slack import SlackNotifier, SlackWebhookNotifier
from daemon.notify.types import Retryable
from daemon.notify.webhook import WebhookNotifier
from daemon.store import Store
from daemon.telemetry.metrics import Metrics

from ..conftest import ROOT
from .helpers import FakeClock, RecordingNotifier
from .receivers import GENIE_KEY, ROUTING_KEY, SLACK_TOKEN, serve_receivers
from .test_receivers import T0, deliver_all, incident_doc, outbox_for, page


async def test_500_429_and_timeout_lose_nothing_and_page_once(store: Store) -> None:
    """A receiver that answers 500, then 429 (Retry-After), then hangs past the timeout, then 500."""
    async with serve_receivers() as (rec, url):
        rec.script["/hook"] = [500, 429, "hang", 500]
        rec.script["/v2/enqueue"] = [500, 429, "hang", 500]
        clock = FakeClock(T0)
        ob = outbox_for(store, {"hook": WebhookNotifier("hook", f"{url}/hook", secret=rec.webhook_secret),
                                "pd": PagerDutyNotifier("pd", ROUTING_KEY, url=url)}, clock, send_timeout=0.3)
        await ob.enqueue(page("trigger", T0))
        await ob.enqueue(page("resolve", T0 + 60))
        await deliver_all(ob, clock, rounds=40, step=10.0)
        rows = await store.notifications.find()
        assert {(n.receiver, n.action, n.status) for n in rows} == {
            ("hook", "trigger", "sent"), ("hook", "resolve", "sent"), ("pd", "trigger", "sent"),
            ("pd", "resolve", "sent")}
        assert {n.attempts for n in rows if n.action == "trigger"} == {5}  # 4 failures, then accepted
        assert all(n.attempts == 1 for n in rows if n.action == "resolve")
        # the receivers saw the same key on every retry and show the responder one page
        assert len(rec.hook_accepted) == 2 and rec.violations == []
        assert rec.pd_pages == 1 and rec.pd_incidents == {"inc-0a1b2c3d4e": "resolved"}
        actions = [e["event_action"] for e in rec.pd_events]
        assert actions == ["trigger", "resolve"]  # the resolve never overtook the retried trigger


async def test_retries_are_bounded_and_failure_is_visible(store: Store) -> None:
    clock = FakeClock(T0)
    metrics = Metrics()
    rec = RecordingNotifier("flaky", fail_with=[Retryable("HTTP 503")] * 50)
    ob = outbox_for(store, {"flaky": rec}, clock, metrics=metrics, breaker_threshold=100)
    ob.retry = RetryPolicy(base=1.0, cap=2.0, max_attempts=4)
    await ob.enqueue(page("trigger", T0))
    await deliver_all(ob, clock, rounds=30, step=5.0)
    [n] = await store.notifications.find()
    assert n.status == "failed" and n.attempts == 4 and "gave up after 4 attempts" in (n.last_error or "")
    assert len(rec.fail_with) == 46 and rec.pages == []
    assert metrics.notifications.labels("flaky", "failed")._value.get() == 1
    assert metrics.notifications.labels("flaky", "retry")._value.get() == 3


async def test_circuit_breaker_holds_pages_without_spending_attempts(store: Store) -> None:
    clock = FakeClock(T0)
    rec = RecordingNotifier("down", fail_with=[Retryable("HTTP 502")] * 3)
    ob = outbox_for(store, {"down": rec}, clock, breaker_threshold=2, breaker_cool_down=100.0)
    ob.retry = RetryPolicy(base=0.0, cap=0.0)
    for i in range(3):
        doc = incident_doc() | {"id": f"inc-{i}"}
        await ob.enqueue(page("trigger", T0, doc=doc))
    await ob.deliver_due()  # three sends at once: failures open the circuit
    assert ob.breakers["down"].state(clock.now) == "open"
    clock.now += 1
    await ob.deliver_due()  # open: nothing is sent, nothing counted
    assert rec.fail_with == [] and rec.pages == []  # a send now would have succeeded: none was made
    attempts_before = {n.id: n.attempts for n in await store.notifications.find()}
    await ob.deliver_due()
    assert {n.id: n.attempts for n in await store.notifications.find()} == attempts_before
    clock.now += 100  # half-open: one trial, it succeeds, the circuit closes, the rest follow
    await deliver_all(ob, clock, rounds=5, step=1.0)
    assert sorted(p.incident_id for _, p in rec.pages) == ["inc-0", "inc-1", "inc-2"]
    assert ob.breakers["down"].state(clock.now) == "closed"


async def test_flapping_resolve_is_held_and_withdrawn_on_relapse(store: Store) -> None:
    clock = FakeClock(T0)
    rec = RecordingNotifier("pd")
    ob = outbox_for(store, {"pd": rec}, clock, resolve_hold=300.0)
    await ob.enqueue(page("trigger", T0))
    await ob.deliver_due()
    clock.now += 120
    await ob.enqueue(page("resolve", clock.now))
    await ob.deliver_due()
    assert [p.action for _, p in rec.pages] == ["trigger"]  # held back
    clock.now += 120  # relapse within the hold: the incident re-opens (an UPDATE, not a trigger)
    await ob.enqueue(page("update", clock.now, reason="relapsed: re-opened"))
    await deliver_all(ob, clock, rounds=5, step=400.0)
    assert [p.action for _, p in rec.pages] == ["trigger", "update"]
    statuses = {n.action: n.status for n in await store.notifications.find()}
    assert statuses == {"trigger": "sent", "resolve": "superseded", "update": "sent"}
    # a later recovery that stays recovered is resolved after the hold
    await ob.enqueue(page("resolve", clock.now))
    await ob.deliver_due()
    assert [p.action for _, p in rec.pages][-1] == "update"
    clock.now += 301
    await ob.deliver_due()
    assert [p.action for _, p in rec.pages][-1] == "resolve"


async def test_routing_by_service_and_severity_and_runbook(store: Store) -> None:
    clock = FakeClock(T0)
    recs = {n: RecordingNotifier(n) for n in ("pd-pay", "slack-pay", "slack-all")}
    ob = outbox_for(store, recs, clock)
    router = Router([Route(("pd-pay", "slack-pay"), services=("checkout",), severities=("critical",)),
                     Route(("slack-pay",), services=("checkout",))], default=["slack-all"])
    disp = Dispatcher(store, ob, router, clock=clock)
    await disp.dispatch(page("trigger", T0))  # critical, checkout
    warn = incident_doc() | {"id": "inc-warn"}
    await disp.dispatch(dataclasses.replace(page("trigger", T0, doc=warn), severity="warning"))
    other = incident_doc() | {"id": "inc-search", "services": ["search"]}
    await disp.dispatch(page("trigger", T0, doc=other))
    await deliver_all(ob, clock)
    got = {name: sorted(p.incident_id for _, p in r.pages) for name, r in recs.items()}
    assert got == {"pd-pay": ["inc-0a1b2c3d4e"], "slack-pay": ["inc-0a1b2c3d4e", "inc-warn"],
                   "slack-all": ["inc-search"]}
    # a resolve goes exactly where the trigger went, with the first page's severity
    await disp.dispatch(page("resolve", T0 + 60, doc=warn))
    await deliver_all(ob, clock)
    resolves = [(name, p.severity) for name, r in recs.items() for _, p in r.pages if p.action == "resolve"]
    assert resolves == [("slack-pay", "warning")]


async def test_silences_hold_back_pages_until_they_end(store: Store) -> None:
    """The workspace's silences (one service or ``*``) apply in the dispatcher, before the outbox."""
    from daemon.runtime.daemon import Daemon

    from .helpers import SHOP
    clock = FakeClock(T0)
    rec = RecordingNotifier("pd")
    d = Daemon(store=store, topology=SHOP, sources=[], notifiers={"pd": rec}, clock=clock, step=30.0)
    await d.workspace.db.silences.add("checkout", T0 - 10, T0 + 600, "db move", "ana", T0)
    other = incident_doc() | {"id": "inc-other"}
    await d.dispatcher.dispatch(page("trigger", T0, doc=other))  # frontend is not silenced: it pages
    await d.workspace.db.silences.add("frontend", T0 - 10, T0 + 600, "db move", "ana", T0)
    await d.dispatcher.dispatch(page("trigger", T0))  # every service silenced: held back
    await d.dispatcher.dispatch(page("resolve", T0 + 60))  # nothing was paged: nothing to resolve
    await deliver_all(d.outbox, clock)
    assert [(p.incident_id, p.action) for _, p in rec.pages] == [("inc-other", "trigger")]
    assert await store.notifications.find(incident_id="inc-0a1b2c3d4e") == []
    # once the window ends, the next page of a still-open incident goes out
    clock.now = T0 + 601
    await d.dispatcher.dispatch(page("update", clock.now, reason="top candidate changed"))
    await deliver_all(d.outbox, clock)
    assert [(p.incident_id, p.action) for _, p in rec.pages][-1] == ("inc-0a1b2c3d4e", "update")


async def test_drill_reaches_every_receiver_and_reports(store: Store) -> None:
    async with serve_receivers() as (rec, url):
        rec.script["/hook"] = [500]  # one hiccup: the drill retries through the real pipeline
        notifiers: dict[str, Any] = {
            "pd": PagerDutyNotifier("pd", ROUTING_KEY, url=url),
            "og": OpsgenieNotifier("og", GENIE_KEY, url=url),
            "slack": SlackNotifier("slack", SLACK_TOKEN, "#oncall", refs=store.refs, base_url=f"{url}/api/"),
            "slack-hook": SlackWebhookNotifier("slack-hook", f"{url}/slack/hook"),
            "hook": WebhookNotifier("hook", f"{url}/hook", secret=rec.webhook_secret),
            "broken": OpsgenieNotifier("broken", "revoked-key", url=url),
        }
        results = await asyncio.wait_for(run_drill(store, notifiers, timeout=20.0,
                                                   retry=RetryPolicy(base=0.2, cap=0.5)), 30)
        by = {(r.receiver, r.action): r for r in results}
        for name in ("pd", "og", "slack", "slack-hook", "hook"):
            assert by[(name, "trigger")].status == "sent", by[(name, "trigger")]
            assert by[(name, "resolve")].status == "sent"
        assert by[("hook", "trigger")].attempts == 2
        assert by[("broken", "trigger")].status == "failed" and "401" in (by[("broken", "trigger")].error or "")
        assert ("broken", "resolve") not in by
        assert rec.violations == []
        assert rec.pd_events[0]["payload"]["summary"].startswith("[DRILL]")
        assert rec.pd_events[0]["payload"]["severity"] == "info"
        assert all(a["status"] == "closed" and "drill" in a["tags"] for a in rec.og_alerts.values())
        assert by[("broken", "trigger")].line().startswith("broken ")


async def test_stop_before_the_deliverer_starts_still_stops_it(store: Store) -> None:
    rec = RecordingNotifier("rec")
    ob = outbox_for(store, {"rec": rec}, FakeClock(T0))
    await ob.enqueue(page("trigger", T0))
    ob.stop()  # the daemon may stop before the deliverer task first runs
    await asyncio.wait_for(ob.run(poll=0.05), 5)
    assert [p.action for _, p in rec.pages] == ["trigger"]  # the last round still delivered
    task = asyncio.create_task(ob.run(poll=0.05))  # and a later run runs until stopped again
    await asyncio.sleep(0.2)
    assert not task.done()
    ob.stop()
    await asyncio.wait_for(task, 5)


async def test_drill_command_reports_each_delivery(tmp_path: Path) -> None:
    async with serve_receivers() as (rec, url):
        cfg = tmp_path / "c.yaml"
        cfg.write_text(f"""
store: {{url: "sqlite+aiosqlite:///{tmp_path / 'wc.db'}"}}
notifiers:
  - {{type: pagerduty, name: pd, routing_key: {{env: WC_DRILL_PD_KEY}}, url: "{url}"}}
  - {{type: slack, name: slack, token: {{env: WC_DRILL_SLACK}}, channel: "#oncall", base_url: "{url}/api/"}}
  - {{type: webhook, name: hook, url: "{url}/hook", secret: {{value: "{rec.webhook_secret.decode()}"}}}}
  - {{type: opsgenie, name: og-revoked, api_key: {{value: revoked}}, url: "{url}"}}
""")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "daemon.cli", "drill", "--config", str(cfg), "--timeout", "20", cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "WC_DRILL_PD_KEY": ROUTING_KEY, "WC_DRILL_SLACK": SLACK_TOKEN})
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode == 1, (text, err.decode()[-2000:])  # one receiver refused it
    lines = {tuple(line.split()[:3]) for line in text.splitlines()}
    for name in ("pd", "slack", "hook"):
        assert (name, "trigger", "sent") in lines and (name, "resolve", "sent") in lines, text
    assert ("og-revoked", "trigger", "failed") in lines and "HTTP 401" in text
    assert "drill: 6 of 7 deliveries accepted" in text
    assert rec.pd_pages == 1 and rec.slack_posts == 1 and rec.slack_updates == 1 and rec.violations == []
    assert ROUTING_KEY not in text + err.decode() and SLACK_TOKEN not in text + err.decode()
