"""Every receiver through the real outbox, against local servers that validate the published schemas."""

from __future__ import annotations

import random
from typing import Any

from daemon.notify.alertmanager import alertmanager_alert
from daemon.notify.opsgenie import OpsgenieNotifier
from daemon.notify.outbox import Outbox
from daemon.notify.pagerduty import PagerDutyNotifier
from daemon.notify.retry import RetryPolicy
from daemon.notify.slack import SlackNotifier, SlackWebhookNotifier
from daemon.notify.types import Notifier, Page
from daemon.notify.webhook import WebhookNotifier
from daemon.store import Store
from daemon.telemetry.metrics import Metrics

from .helpers import FakeClock
from .receivers import GENIE_KEY, ROUTING_KEY, SLACK_TOKEN, serve_receivers

T0 = 1_790_000_000.0


def incident_doc(n_candidates: int = 3, long: bool = False) -> dict[str, Any]:
    pad = " and more detail" * (300 if long else 0)
    return {
        "id": "inc-0a1b2c3d4e", "state": "open", "onset": T0 - 120, "opened_at": T0 - 60, "paged_at": T0,
        "resolved_at": None, "services": ["checkout", "frontend"],
        "anomalies": [{"service": "checkout", "signal": "error_ratio", "onset": T0 - 120, "detected_at": T0 - 60,
                       "direction": "up", "before": 0.004, "after": 0.051, "confidence": 0.9,
                       "recovered_at": None, "series": "checkout/error_ratio"}],
        "candidates": [{"rank": i + 1, "score": 0.78 / (i + 1), "cause": {"type": "change", "id": f"chg-{i}"},
                        "title": f"checkout rollout revision {14 + i} -> {15 + i}{pad}",
                        "hypothesis": f"the new checkout release is failing requests{pad}",
                        "test": "compare errors by pod_template_hash" + pad} for i in range(n_candidates)],
        "dead_ends": [{"cause": {"type": "change", "id": "chg-x"}, "title": "deploy search rev 6 -> 7",
                       "reason": "after onset"}],
        "recommendation": {"action": "rollback", "command": "kubectl rollout undo deployment/checkout -n shop "
                                                            "--to-revision=14", "why": "clean rollback path"},
        "low_confidence": False, "reopened": 0,
    }


def page(action: str, ts: float, *, doc: dict[str, Any] | None = None, title: str | None = None,
         reason: str = "") -> Page:
    doc = doc or incident_doc()
    return Page(action, doc["id"], doc["id"], ts,
                title or "checkout: error ratio 0.4% → 5.1% since 03:02 UTC (frontend affected)",
                "1. (0.78) checkout rollout revision 14 -> 15", doc, f"https://wc.example/incidents/{doc['id']}",
                severity="critical", service="checkout", runbook="https://runbooks.example/checkout", reason=reason)


async def deliver_all(outbox: Outbox, clock: FakeClock, rounds: int = 20, step: float = 5.0) -> None:
    for _ in range(rounds):
        await outbox.deliver_due()
        if await outbox.store.notifications.depth() == 0:
            return
        clock.now += step


def outbox_for(store: Store, notifiers: dict[str, Notifier], clock: FakeClock, **kw: Any) -> Outbox:
    return Outbox(store, notifiers, clock=clock, retry=RetryPolicy(base=1.0, cap=4.0, rng=random.Random(3)), **kw)


async def test_pagerduty_trigger_update_resolve_pages_once(store: Store) -> None:
    async with serve_receivers() as (rec, url):
        clock = FakeClock(T0)
        pd = PagerDutyNotifier("pd", ROUTING_KEY, url=url)
        ob = outbox_for(store, {"pd": pd}, clock)
        long_title = "checkout: " + "x" * 3000
        await ob.enqueue(page("trigger", T0, doc=incident_doc(long=True), title=long_title))
        await ob.enqueue(page("update", T0 + 60, reason="top candidate changed"))
        await ob.enqueue(page("acknowledge", T0 + 90))
        await ob.enqueue(page("resolve", T0 + 120))
        await deliver_all(ob, clock)
        assert rec.violations == []
        assert [e["event_action"] for e in rec.pd_events] == ["trigger", "trigger", "acknowledge", "resolve"]
        assert rec.pd_pages == 1 and rec.pd_incidents == {"inc-0a1b2c3d4e": "resolved"}
        first = rec.pd_events[0]
        assert first["dedup_key"] == "inc-0a1b2c3d4e" and len(first["payload"]["summary"]) == 1024
        details = first["payload"]["custom_details"]
        assert details["candidates"][0]["hypothesis"].startswith("the new checkout release")
        assert details["recommendation"]["command"].startswith("kubectl rollout undo")
        assert details["dead_ends"][0]["reason"] == "after onset"
        assert {link["text"] for link in first["links"]} == {"whatchanged incident", "Runbook"}
        assert first["payload"]["component"] == "checkout" and first["payload"]["class"] == "error_ratio"
        assert all(n.status == "sent" for n in await store.notifications.find())


async def test_pagerduty_refusal_is_permanent_and_recorded(store: Store) -> None:
    async with serve_receivers() as (rec, url):
        clock = FakeClock(T0)
        metrics = Metrics()
        ob = outbox_for(store, {"pd": PagerDutyNotifier("pd", "wrong-key-of-wrong-length", url=url)}, clock,
                        metrics=metrics)
        await ob.enqueue(page("trigger", T0))
        await deliver_all(ob, clock)
        [n] = await store.notifications.find()
        assert n.status == "failed" and n.attempts == 1 and "HTTP 400" in (n.last_error or "")
        assert len(rec.requests) == 1  # a permanent error is never retried
        assert metrics.notifications.labels("pd", "failed")._value.get() == 1


async def test_opsgenie_create_note_close_dedupes_on_alias(store: Store) -> None:
    async with serve_receivers() as (rec, url):
        clock = FakeClock(T0)
        og = OpsgenieNotifier("og", GENIE_KEY, url=url, responders=[{"type": "team", "name": "payments"}],
                              tags=["shop"])
        ob = outbox_for(store, {"og": og}, clock)
        await ob.enqueue(page("trigger", T0, doc=incident_doc(n_candidates=8, long=True), title="t" * 500))
        await ob.enqueue(page("update", T0 + 60, reason="top candidate changed"))
        await ob.enqueue(page("resolve", T0 + 120))
        await deliver_all(ob, clock)
        assert rec.violations == []
        alert = rec.og_alerts["inc-0a1b2c3d4e"]
        assert rec.og_pages == 1 and alert["status"] == "closed" and len(alert["message"]) == 130
        assert alert["responders"] == [{"type": "team", "name": "payments"}] and alert["priority"] == "P1"
        assert len(alert["notes"]) == 1 and alert["notes"][0].startswith("top candidate changed")
        assert sum(len(k) + len(v) for k, v in alert["details"].items()) <= 8000


async def test_slack_bot_message_is_updated_in_place(store: Store) -> None:
    async with serve_receivers() as (rec, url):
        clock = FakeClock(T0)
        slack = SlackNotifier("slack", SLACK_TOKEN, "#oncall", refs=store.refs, base_url=f"{url}/api/")
        ob = outbox_for(store, {"slack": slack}, clock)
        await ob.enqueue(page("trigger", T0, doc=incident_doc(n_candidates=12, long=True), title="c" * 400))
        await ob.enqueue(page("update", T0 + 60, reason="top candidate changed"))
        await ob.enqueue(page("note", T0 + 70, reason="note"))
        await ob.enqueue(page("resolve", T0 + 120))
        await deliver_all(ob, clock)
        assert rec.violations == []
        assert rec.slack_posts == 1 and rec.slack_updates == 2  # one message, edited twice
        [(ts, msg)] = [(ts, m) for ts, m in rec.slack_messages.items() if "thread_ts" not in m]
        assert ":white_check_mark: Resolved" in msg["blocks"][1]["elements"][0]["text"]
        assert len(msg["replies"]) == 1  # the note went to the thread
        assert await store.refs.get("inc-0a1b2c3d4e", "slack") == {"channel": "C0123", "ts": ts}


async def test_slack_ratelimit_is_retried_after_retry_after(store: Store) -> None:
    async with serve_receivers() as (rec, url):
        rec.script["/api/chat.postMessage"] = [429]
        clock = FakeClock(T0)
        slack = SlackNotifier("s", SLACK_TOKEN, "#oncall", refs=store.refs, base_url=f"{url}/api/")
        ob = outbox_for(store, {"s": slack}, clock)
        await ob.enqueue(page("trigger", T0))
        await ob.deliver_due()
        [n] = await store.notifications.find()
        assert n.status == "pending" and n.next_attempt_at >= T0 + 1 and "429" in (n.last_error or "")
        await deliver_all(ob, clock)
        assert rec.slack_posts == 1 and (await store.notifications.find())[0].status == "sent"


async def test_slack_incoming_webhook(store: Store) -> None:
    async with serve_receivers() as (rec, url):
        clock = FakeClock(T0)
        ob = outbox_for(store, {"hook": SlackWebhookNotifier("hook", f"{url}/slack/hook")}, clock)
        await ob.enqueue(page("trigger", T0, doc=incident_doc(n_candidates=20)))
        await ob.enqueue(page("resolve", T0 + 60))
        await deliver_all(ob, clock)
        assert rec.violations == [] and len(rec.slack_hook_posts) == 2


async def test_signed_webhook_carries_key_and_valid_signature(store: Store) -> None:
    async with serve_receivers() as (rec, url):
        clock = FakeClock(T0)
        ob = outbox_for(store, {"hook": WebhookNotifier("hook", f"{url}/hook", secret=rec.webhook_secret)}, clock)
        await ob.enqueue(page("trigger", T0))
        await deliver_all(ob, clock)
        assert rec.violations == [] and [b["key"] for b in rec.hook_accepted] == [
            "inc-0a1b2c3d4e/trigger/1790000000/hook"]


def test_alertmanager_alert_identity_is_stable() -> None:
    a = alertmanager_alert(page("trigger", T0), labels={"team": "payments"})
    b = alertmanager_alert(page("resolve", T0 + 600))
    assert a["labels"]["team"] == "payments"
    assert {k: v for k, v in a["labels"].items() if k != "team"} == b["labels"]  # same alert in Alertmanager
    assert b["endsAt"] == "2026-09-21T14:23:20Z" and a["endsAt"] == "2026-09-22T14:13:20Z"  # open: ts + hold
    assert a["annotations"]["runbook_url"] == "https://runbooks.example/checkout"
