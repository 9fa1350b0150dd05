"""Security: tokens compared in constant time, secrets never in logs or API output, request size
limits, and the web pages safe against HTML injected through change summaries and labels."""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from daemon.api import auth
from daemon.api import webhooks as wh
from daemon.api.app import create_app
from daemon.config import parse_config
from daemon.config.domain import api_tokens_of
from daemon.notify.factory import build_notifiers
from daemon.runtime.daemon import Daemon
from daemon.store import Store
from tests.daemon.helpers import SHOP, FakeClock, ListSource, shop_events

from .receiver import Receiver

SECRETS = {"read": "rd-5ecret-7f1e", "write": "wr-5ecret-99ab", "hook": "hk-5ecret-c0de",
           "prom": "pr-5ecret-4242", "inbound": "in-5ecret-beef"}
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _config(receiver_url: str) -> Any:
    return parse_config({
        "api": {"read_tokens": [{"value": SECRETS["read"]}], "write_tokens": [{"value": SECRETS["write"]}]},
        "webhooks": {"bearer_tokens": [{"value": SECRETS["inbound"]}]},
        "prometheus": {"url": "http://127.0.0.1:1", "bearer_token": {"value": SECRETS["prom"]}},
        "notifiers": [{"type": "webhook", "name": "hook", "url": receiver_url, "secret": {"value": SECRETS["hook"]}}],
    })


def _count_compares(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[int]:
    calls = [0]
    real = hmac.compare_digest

    def counting(a: Any, b: Any) -> bool:
        calls[0] += 1
        return real(a, b)

    monkeypatch.setattr(module.hmac, "compare_digest", counting)
    return calls


def test_api_tokens_compared_with_every_candidate(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = auth.ApiTokens.of(read=["r1", "r2", "r3"], write=["w1", "w2", "w3"])
    calls = _count_compares(monkeypatch, auth)
    for token in ("w1", "w3", "nope"):
        calls[0] = 0
        tokens.access(token)
        # hmac.compare_digest against every write token whichever matched (no early exit)
        assert calls[0] in (3, 6), (token, calls[0])
    calls[0] = 0
    assert tokens.access("zz") is auth.Access.NONE and calls[0] == 6


async def test_secrets_never_in_logs_or_api_output(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with Receiver(["500"]) as rx:
        cfg = _config(rx.url)
        for s in SECRETS.values():
            assert s not in repr(cfg) and s not in str(cfg) and s not in cfg.model_dump_json()
        clock = FakeClock(1_790_000_000.0 + 10_000)
        d = Daemon(store=store, topology=SHOP, sources=[ListSource(shop_events(1_790_000_000.0, 110, bad_from=80))],
                   notifiers=build_notifiers(cfg), clock=clock, step=30.0, api_tokens=api_tokens_of(cfg),
                   webhooks=wh.WebhookSettings.from_config(cfg.webhooks))
        d.outbox.retry.base = 0.0
        task = asyncio.create_task(d.run())
        outputs: list[str] = []
        try:
            async with TestClient(TestServer(create_app(d))) as c:
                for _ in range(300):
                    await asyncio.sleep(0.02)
                    clock.now += 5
                    if rx.accepted:
                        break
                assert rx.accepted, "the page did not arrive"
                read = {"Authorization": f"Bearer {SECRETS['read']}"}
                for bad in ("Bearer wrong", f"Bearer {SECRETS['read']}x", "Basic abc"):
                    r = await c.post("/api/v1/changes", json={"ts": 1, "kind": "deploy", "service": "a"},
                                     headers={"Authorization": bad})
                    assert r.status in (401, 403)
                    outputs.append(await r.text())
                r = await c.post("/api/v1/webhooks/alertmanager", json={}, headers={"Authorization": "Bearer no"})
                assert r.status == 403
                incidents = (await (await c.get("/api/v1/incidents", headers=read)).json())["incidents"]
                paths = ["/api/v1/incidents", "/api/v1/changes", "/metrics", "/readyz", "/healthz", "/",
                         f"/api/v1/incidents/{incidents[0]['id']}", f"/incidents/{incidents[0]['id']}"]
                for p in paths:
                    r = await c.get(p, headers=read)
                    assert r.status == 200, (p, r.status)
                    outputs.append(await r.text())
        finally:
            d.stop()
            await asyncio.wait_for(task, 30)
    signed = rx.bodies[rx.accepted[0]]
    outputs.append(str(signed))
    text = caplog.text + "\n".join(outputs)
    for name, s in SECRETS.items():
        assert s not in text, f"the {name} secret leaked"
    for n in await store.notifications.find():
        assert all(s not in (n.last_error or "") + str(n.payload) for s in SECRETS.values())


async def test_request_size_limits_even_when_chunked(sqlite_store: Store) -> None:
    d = Daemon(store=sqlite_store, topology=SHOP, sources=[], notifiers={}, clock=FakeClock(), step=30.0)

    async def chunks(total: int) -> Any:
        sent = 0
        while sent < total:
            yield b" " * 65536
            sent += 65536

    async with TestClient(TestServer(create_app(d))) as c:
        for path, limit in (("/api/v1/changes", 1024 * 1024), ("/api/v1/webhooks/alertmanager", 256 * 1024)):
            r = await c.post(path, data=b" " * (limit + 10), headers={"Content-Type": "application/json"})
            assert r.status == 413, (path, r.status)
            r = await c.post(path, data=chunks(limit + 65536 * 2), headers={"Content-Type": "application/json"})
            assert r.status == 413, (path, "chunked", r.status)
    assert await sqlite_store.changes.find() == []


async def test_pages_escape_html_from_summaries_and_labels(sqlite_store: Store) -> None:
    clock = FakeClock(1_790_000_000.0 + 10_000)
    d = Daemon(store=sqlite_store, topology=SHOP, sources=[], notifiers={}, clock=clock, step=30.0)
    async with TestClient(TestServer(create_app(d))) as c:
        change = {"id": "chg-xss", "ts": 1_790_000_000 + 75 * 30, "kind": "deploy", "service": "checkout",
                  "namespace": XSS, "summary": XSS, "actor": XSS, "attributes": {"to_revision": XSS, XSS: "v"}}
        assert (await c.post("/api/v1/changes", json=change)).status == 202
        await d.handle(d.queue.get_nowait())
        d.queue.task_done()
        for ev in shop_events(1_790_000_000.0, 120, bad_from=80):
            await d.handle(ev)
        await d.flush()
        inc = (await (await c.get("/api/v1/incidents")).json())["incidents"][0]
        assert any(cand.get("summary") == XSS or XSS in str(cand) for cand in inc["candidates"])  # it is there
        for p in ("/", "/incidents", f"/incidents/{inc['id']}"):
            r = await c.get(p)
            html = await r.text()
            assert r.status == 200 and "text/html" in r.headers["Content-Type"]
            assert "<script>alert(" not in html and "<img src=x" not in html, p
            if p.endswith(inc["id"]):
                assert "&lt;script&gt;" in html  # shown, escaped
