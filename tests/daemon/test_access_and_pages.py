"""Tokens, the HTML pages (escaping, CSP, filters), the config section and the series buffer bounds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from daemon.api.app import create_app
from daemon.api.auth import ApiTokens
from daemon.config import ConfigError, load_config
from daemon.core.series_buffer import SeriesBuffer
from daemon.store import Store

from .workspace_helpers import EVIL, feed_incident, make_daemon

TOKENS = ApiTokens.of(read=["r-secret"], write=["w-secret"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_tokens_guard_reads_and_writes(sqlite_store: Store) -> None:
    daemon = make_daemon(sqlite_store, tokens=TOKENS)
    inc = await feed_incident(daemon)
    fb = {"cause": {"type": "none"}}
    async with TestClient(TestServer(create_app(daemon))) as c:
        for path in ("/healthz", "/readyz", "/metrics", "/static/uPlot.iife.min.js", "/login"):
            assert (await c.get(path)).status == 200, path
        r = await c.get("/api/v1/incidents")
        assert r.status == 401 and (await r.json())["field"] == "Authorization"
        assert (await c.get("/api/v1/incidents", headers=_bearer("wrong"))).status == 403
        assert (await c.get("/api/v1/incidents", headers=_bearer("r-secret"))).status == 200
        assert (await c.get("/api/v1/incidents", headers=_bearer("w-secret"))).status == 200
        assert (await c.post(f"/api/v1/incidents/{inc}/feedback", json=fb)).status == 401
        assert (await c.post(f"/api/v1/incidents/{inc}/feedback", json=fb, headers=_bearer("r-secret"))).status == 403
        assert (await c.post("/api/v1/silences", json={}, headers=_bearer("r-secret"))).status == 403
        assert (await c.post(f"/api/v1/incidents/{inc}/feedback", json=fb, headers=_bearer("w-secret"))).status == 201
        # pages: without a token the browser is sent to sign in; the cookie grants reads only
        r = await c.get("/incidents", allow_redirects=False)
        assert r.status == 302 and r.headers["Location"] == "/login"
        assert (await c.post("/login", data={"token": "nope"})).status == 403
        r = await c.post("/login", data={"token": "r-secret"}, allow_redirects=False)
        assert r.status == 302 and "HttpOnly" in r.headers["Set-Cookie"]
        assert (await c.get(f"/incidents/{inc}")).status == 200
        assert (await c.get(f"/api/v1/incidents/{inc}/postmortem.md")).status == 200
        # a cookie never authorises a write (no cross-site forgery), even a write token's
        await c.post("/login", data={"token": "w-secret"})
        assert (await c.post(f"/api/v1/incidents/{inc}/feedback", json=fb)).status == 401


async def test_open_api_when_no_tokens_and_only_write_tokens(sqlite_store: Store) -> None:
    assert ApiTokens().open
    daemon = make_daemon(sqlite_store, tokens=ApiTokens.of(write=["w"]))
    async with TestClient(TestServer(create_app(daemon))) as c:
        assert (await c.get("/api/v1/incidents")).status == 200  # reads open
        assert (await c.post("/api/v1/silences", json={})).status == 401


async def test_pages_escape_injected_html_and_send_a_strict_csp(sqlite_store: Store) -> None:
    daemon = make_daemon(sqlite_store)
    inc = await feed_incident(daemon)
    async with TestClient(TestServer(create_app(daemon))) as c:
        r = await c.get(f"/incidents/{inc}")
        assert r.status == 200
        html = await r.text()
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
        assert EVIL not in html and "<script>alert" not in html and "<img src=x" not in html
        assert "\\u003cscript\\u003e" in html  # the change summary, escaped inside the JSON data
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.DOTALL)
        assert all("src=" in attrs or 'type="application/json"' in attrs for attrs, _ in scripts)
        assert all(body == "" for attrs, body in scripts if "src=" in attrs)  # no inline code
        for needle in ("Recommendation", "kubectl rollout undo", "Candidates", "Ruled out", "Timeline",
                       "This was the cause", "None of these", "Postmortem draft", 'id="copy"'):
            assert needle in html, needle
        listing = await (await c.get("/incidents")).text()
        assert f"/incidents/{inc}" in listing and "<option value=\"checkout\"" in listing
        assert f"/incidents/{inc}" not in await (await c.get("/incidents?service=search")).text()
        assert f"/incidents/{inc}" not in await (await c.get("/incidents?state=resolved")).text()
        assert (await c.get("/incidents/inc-nope")).status == 404
        assert (await c.get("/")).url.path == "/incidents"


def test_api_tokens_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("api:\n  read_tokens: [{env: WC_READ}]\n  write_tokens: [{value: w}]\n")
    with pytest.raises(ConfigError) as e:
        load_config(cfg)
    assert e.value.field == "api.read_tokens.0" and "WC_READ" in str(e.value)
    monkeypatch.setenv("WC_READ", "r")
    from daemon.config.domain import api_tokens_of
    tokens = api_tokens_of(load_config(cfg))
    assert tokens.read == (b"r",) and tokens.write == (b"w",)
    cfg.write_text("api:\n  write_token: [{value: w}]\n")
    with pytest.raises(ConfigError) as e:
        load_config(cfg)
    assert e.value.field == "api.write_token"


def test_series_buffer_is_bounded() -> None:
    b = SeriesBuffer(horizon=3600, step=30, max_series=3)
    for k in range(5):
        for i in range(1000):
            b.add(f"s{k}", i * 30.0, float(i))
    assert len(b) == 3 and sorted(b.keys()) == ["s2", "s3", "s4"]
    assert b.point_count == 3 * 121
    pts = b.window("s4", 0, 1e9)
    assert pts[0] == ((1000 - 121) * 30.0, 879.0) and pts[-1] == (999 * 30.0, 999.0)
    b.add("s4", 10.0, 5.0)  # out of order: ignored, the buffer stays sorted
    b.add("s4", 1e6, float("nan"))  # kept as a gap, never plotted
    assert b.window("s4", 0, 1e9)[-1] == (999 * 30.0, 999.0)


async def test_login_is_rate_limited_after_failures_and_its_cookie_is_secure_behind_tls(sqlite_store: Store) -> None:
    daemon = make_daemon(sqlite_store, tokens=ApiTokens.of(read=["r-secret"], write=["w-secret"]))
    async with TestClient(TestServer(create_app(daemon))) as c:
        r = await c.post("/login", data={"token": "r-secret"}, allow_redirects=False)
        assert r.status == 302 and "Secure" not in r.headers["Set-Cookie"]  # plain HTTP, no proxy
        r = await c.post("/login", data={"token": "r-secret"}, allow_redirects=False,
                         headers={"X-Forwarded-Proto": "https"})
        assert r.status == 302 and "Secure" in r.headers["Set-Cookie"]  # TLS ends at the proxy
        statuses = [(await c.post("/login", data={"token": f"guess-{i}"})).status for i in range(12)]
        assert statuses[:10] == [403] * 10 and statuses[10:] == [429, 429], statuses
        r = await c.post("/login", data={"token": "r-secret"}, allow_redirects=False)
        assert r.status == 429 and int(r.headers["Retry-After"]) >= 1  # even the right token waits its turn
