"""Fail closed: empty secrets, webhooks beside API tokens, secrets in errors, a hung receiver, a read-only store."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer

from daemon.api.app import create_app
from daemon.api.auth import ApiTokens
from daemon.api.webhooks import WebhookSettings
from daemon.config import ConfigError, load_config
from daemon.notify.outbox import Outbox
from daemon.notify.slack import SlackWebhookNotifier
from daemon.notify.types import Page
from daemon.notify.webhook import WebhookNotifier
from daemon.runtime.daemon import Daemon
from daemon.store import Store
from daemon.telemetry.redact import redact
from tests.daemon.helpers import SHOP, FakeClock, RecordingNotifier
from tests.daemon.receivers import serve_receivers

ROOT = Path(__file__).resolve().parents[2]
ALERT = {"version": "4", "status": "firing", "alerts": [{
    "status": "firing", "labels": {"alertname": "HighErrorRate", "service": "checkout", "severity": "critical"},
    "annotations": {}, "startsAt": "2026-11-29T03:02:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "f1"}]}


def _check_config(tmp_path: Path, doc: dict[str, Any], env: dict[str, str] | None = None) -> tuple[int, str]:
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(doc))
    r = subprocess.run([sys.executable, "-m", "daemon.cli", "check-config", str(p)], cwd=ROOT, capture_output=True,
                       text=True, env={**os.environ, **(env or {})}, timeout=60, check=False)
    return r.returncode, r.stderr + r.stdout


@pytest.mark.parametrize(("doc", "field"), [
    ({"api": {"write_tokens": [{"value": ""}]}}, "api.write_tokens.0"),
    ({"api": {"read_tokens": [{"env": "WC_EMPTY"}]}, "webhooks": {"bearer_tokens": [{"value": "t0ken"}]}},
     "api.read_tokens.0"),
    ({"webhooks": {"hmac_secrets": [{"value": "   "}]}}, "webhooks.hmac_secrets.0"),
    ({"webhooks": {"bearer_tokens": [{"file": "EMPTY_FILE"}]}}, "webhooks.bearer_tokens.0"),
    ({"notifiers": [{"type": "slack", "name": "s", "webhook_url": {"value": ""}}]}, "notifiers.0.webhook_url"),
])
def test_an_empty_secret_fails_check_config_naming_it(tmp_path: Path, doc: dict[str, Any], field: str) -> None:
    (tmp_path / "empty").write_text("\n")
    text = yaml.safe_dump(doc).replace("EMPTY_FILE", str(tmp_path / "empty"))
    code, out = _check_config(tmp_path, yaml.safe_load(text), {"WC_EMPTY": ""})
    assert code == 2, out
    assert field in out and "empty" in out, out


def test_read_tokens_without_webhook_credentials_are_refused_at_load(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({"api": {"read_tokens": [{"value": "reader"}]}}))
    with pytest.raises(ConfigError, match="webhooks must be authenticated"):
        load_config(p)


async def test_webhooks_take_the_api_write_tokens_when_they_have_none(sqlite_store: Store) -> None:
    d = Daemon(store=sqlite_store, topology=SHOP, sources=[], notifiers={}, clock=FakeClock(), step=30.0,
               api_tokens=ApiTokens.of(write=["w-token"]), webhooks=WebhookSettings())
    async with TestClient(TestServer(create_app(d))) as c:
        anon = await c.post("/api/v1/webhooks/alertmanager", json=ALERT)
        assert anon.status == 401
        wrong = await c.post("/api/v1/webhooks/alertmanager", json=ALERT, headers={"Authorization": "Bearer nope"})
        assert wrong.status == 403
        ok = await c.post("/api/v1/webhooks/alertmanager", json=ALERT, headers={"Authorization": "Bearer w-token"})
        assert ok.status == 202
    assert len(await sqlite_store.alerts.unprocessed()) == 1  # only the authenticated one


async def test_read_tokens_only_shut_the_open_webhooks(sqlite_store: Store) -> None:
    d = Daemon(store=sqlite_store, topology=SHOP, sources=[], notifiers={}, clock=FakeClock(), step=30.0,
               api_tokens=ApiTokens.of(read=["r-token"]))
    async with TestClient(TestServer(create_app(d))) as c:
        for headers in ({}, {"Authorization": "Bearer r-token"}, {"X-Whatchanged-Signature": "sha256=00"}):
            r = await c.post("/api/v1/webhooks/alertmanager", json=ALERT, headers=headers)
            assert r.status in (401, 403), (headers, r.status)
    assert await sqlite_store.alerts.unprocessed() == []


async def test_a_slack_webhook_url_never_reaches_the_log_or_the_api(sqlite_store: Store,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    secret_path = "/services/T0SECRET/B0SECRET/XyZsecretXyZ"
    url = f"http://127.0.0.1:9{secret_path}"  # nothing listens on port 9: every send fails with the URL in it
    hook = SlackWebhookNotifier("slack", url, timeout=1.0)
    d = Daemon(store=sqlite_store, topology=SHOP, sources=[], notifiers={"slack": hook}, clock=FakeClock(),
               step=30.0)
    page = Page("trigger", "inc-1", "inc-1", 1_795_000_000.0, "checkout errors", "text", {"id": "inc-1"})
    await d.outbox.enqueue(page)
    import logging

    from daemon.telemetry.redact import RedactingFilter
    caplog.handler.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO):
        await d.outbox.deliver_due()
    [n] = await sqlite_store.notifications.find()
    assert n.last_error and "T0SECRET" not in n.last_error and "XyZsecretXyZ" not in n.last_error, n.last_error
    assert "XyZsecretXyZ" not in caplog.text and "T0SECRET" not in caplog.text
    async with TestClient(TestServer(create_app(d))) as c:
        await sqlite_store.incidents.save({"id": "inc-1", "state": "open", "onset": 1.0, "opened_at": 1.0,
                                          "paged_at": 1.0, "resolved_at": None, "services": ["checkout"],
                                          "anomalies": []})
        r = await c.get("/api/v1/incidents/inc-1")
        assert "XyZsecretXyZ" not in await r.text()
    assert redact(f"POST {url} failed") == "POST http://127.0.0.1:9/[redacted] failed"


async def test_a_hung_receiver_delays_no_other(sqlite_store: Store) -> None:
    async with serve_receivers() as (rec, base):
        rec.script["/hook"] = ["hang"]  # the webhook receiver never answers
        fast = RecordingNotifier("fast")
        outbox = Outbox(sqlite_store, {"slow": WebhookNotifier("slow", f"{base}/hook", secret=b"s3cret", timeout=30),
                                       "fast": fast}, clock=time.time, send_timeout=30.0)
        run = asyncio.create_task(outbox.run(poll=0.2))
        try:
            await outbox.enqueue(Page("trigger", "inc-1", "inc-1", 1_795_000_000.0, "first", "", {"id": "inc-1"}))
            for _ in range(100):  # the slow receiver has its request, and holds it
                if any(p == "/hook" for p, _ in rec.requests):
                    break
                await asyncio.sleep(0.02)
            started = time.monotonic()
            await outbox.enqueue(Page("trigger", "inc-2", "inc-2", 1_795_000_100.0, "second", "", {"id": "inc-2"}),
                                 ["fast"])
            while not any(p.incident_id == "inc-2" for _, p in fast.pages):
                assert time.monotonic() - started < 2.0, "the fast receiver waited for the hung one"
                await asyncio.sleep(0.005)
            took = time.monotonic() - started
        finally:
            rec.hold.set()
            outbox.stop()
            await asyncio.wait_for(run, 40)
    print(f"\nhung receiver: the other receiver's page went out {took * 1000:.0f} ms after it was queued")
    assert took < 1.0


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root writes read-only files; a read-only directory bind is used below instead")
async def test_readyz_is_503_on_a_read_only_sqlite_file(tmp_path: Path) -> None:  # pragma: no cover - non-root
    db = tmp_path / "ro.db"
    store = await Store.open(f"sqlite+aiosqlite:///{db}")
    await store.close()
    db.chmod(stat.S_IRUSR)
    store = await Store.open(f"sqlite+aiosqlite:///{db}", migrate=False)
    try:
        d = Daemon(store=store, topology=SHOP, sources=[], notifiers={}, clock=FakeClock(), step=30.0)
        async with TestClient(TestServer(create_app(d))) as c:
            r = await c.get("/readyz")
            assert r.status == 503 and "read-only" in " ".join((await r.json())["reasons"])
    finally:
        await store.close()


async def test_readyz_is_503_when_the_store_refuses_writes(tmp_path: Path) -> None:
    """SQLite's query_only pragma refuses every write as a read-only file does (and works as root)."""
    import sqlalchemy as sa
    db = tmp_path / "ro.db"
    store = await Store.open(f"sqlite+aiosqlite:///{db}")

    @sa.event.listens_for(store.engine.sync_engine, "connect")
    def _read_only(dbapi_conn: Any, _: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA query_only=ON")
        cur.close()
    await store.engine.dispose()  # new connections take the pragma
    try:
        d = Daemon(store=store, topology=SHOP, sources=[], notifiers={}, clock=FakeClock(), step=30.0)
        async with TestClient(TestServer(create_app(d))) as c:
            r = await c.get("/readyz")
            body = await r.json()
            assert r.status == 503 and "store cannot be written: store is read-only" in body["reasons"], body
            w = await c.post("/api/v1/changes", json={"ts": "2026-11-29T03:00:00Z", "kind": "deploy",
                                                      "service": "checkout"})
            assert w.status == 503 and "read-only" in (await w.json())["message"]
    finally:
        await store.close()


async def test_readyz_is_503_when_the_postgresql_schema_is_gone(pg_url: str) -> None:
    store = await Store.open(pg_url)
    try:
        d = Daemon(store=store, topology=SHOP, sources=[], notifiers={}, clock=FakeClock(), step=30.0)
        async with TestClient(TestServer(create_app(d))) as c:
            assert (await c.get("/readyz")).status == 200
            import sqlalchemy as sa
            async with store.engine.begin() as conn:
                await conn.execute(sa.text("DROP TABLE cursors"))
            r = await c.get("/readyz")
            body = await r.json()
            assert r.status == 503 and "store cannot be written: store schema missing" in body["reasons"], body
    finally:
        await store.close()


async def test_the_run_command_applies_intake_and_guards_webhooks_with_the_api_tokens(tmp_path: Path) -> None:
    """The real CLI path: ``intake`` reaches the daemon, webhooks without credentials take the write token."""
    import aiohttp

    from tests.daemon.servers import free_port
    port = free_port()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"store": {"url": f"sqlite:///{tmp_path / 's.db'}"},
                                   "api": {"write_tokens": [{"value": "w-token"}]},
                                   "intake": {"max_age": "1d", "max_future": "1m"}}))
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "daemon.cli", "run", "--config", str(cfg),
                                                "--listen", f"127.0.0.1:{port}", cwd=str(ROOT),
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    auth = {"Authorization": "Bearer w-token"}
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            old = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3 * 86400))
            async with http.post(f"http://127.0.0.1:{port}/api/v1/changes", headers=auth,
                                 json={"ts": old, "kind": "deploy", "service": "checkout"}) as r:
                body = await r.json()
                assert r.status == 400 and body["field"] == "ts" and "1d old" in body["message"], body
            async with http.post(f"http://127.0.0.1:{port}/api/v1/webhooks/alertmanager", json=ALERT) as r:
                assert r.status == 401
    finally:
        proc.terminate()
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert "w-token" not in err.decode()
