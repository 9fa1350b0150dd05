"""HTML pages: the incident list and the incident workspace, rendered with Jinja2 (autoescaped).

Pages embed their data as JSON in a ``<script type="application/json">`` element
(escaped by ``tojson``) and load one script from ``/static/``; a strict
Content-Security-Policy forbids inline scripts and styles, and every text from
changes, labels or notes reaches the DOM escaped or through ``textContent``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from correlators.display import duration, probability, stopwatch, utc

from ..api.auth import COOKIE, Access
from ..api.backend import Backend, backend
from ..core.intake import TokenBucket
from ..notify.render import likely_cause, render_symptom, render_title
from ..workspace.hypotheses import cause_key
from ..workspace.model import WorkspaceView
from .layout import inline_markdown, layout

__all__ = ["CSP", "add_routes", "security_headers"]

HERE = Path(__file__).resolve().parent
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
ENV_KEY: web.AppKey[jinja2.Environment] = web.AppKey("jinja", jinja2.Environment)
PAGE_SIZE = 50


def _duration(seconds: float | None) -> str:
    return "—" if seconds is None else duration(seconds)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["utc"] = utc
    env.filters["duration"] = _duration
    env.filters["stopwatch"] = stopwatch
    env.filters["probability"] = probability
    env.filters["md"] = inline_markdown
    env.globals["title_of"] = render_title
    env.globals["symptom_of"] = render_symptom
    env.globals["likely_of"] = likely_cause
    env.globals["cause_key"] = cause_key
    for name in ("list.html", "incident.html", "login.html"):
        env.get_template(name)  # load and compile now, not on the event loop later
    return env


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if response.content_type == "text/html":
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Cache-Control"] = "no-store"


def _daemon(request: web.Request) -> Backend:
    return backend(request)


def _render(request: web.Request, name: str, status: int = 200, **ctx: Any) -> web.Response:
    d = _daemon(request)
    html = request.app[ENV_KEY].get_template(name).render(
        auth_open=d.api_tokens.open, writes_need_token=not d.api_tokens.open, **ctx)
    return web.Response(text=html, content_type="text/html", charset="utf-8", status=status)


async def index(request: web.Request) -> web.Response:
    raise web.HTTPFound("/incidents")


async def incident_list(request: web.Request) -> web.Response:
    d = _daemon(request)
    state = request.query.get("state") or None
    if state not in (None, "open", "resolved"):
        state = None
    service = request.query.get("service") or None
    try:
        offset = max(0, int(request.query.get("offset", "0")))
    except ValueError:
        offset = 0
    docs = await d.store.incidents.find(state=state, service=service, limit=PAGE_SIZE + 1, offset=offset)
    services = sorted(set(d.topology.services) | {s for doc in docs for s in doc.get("services", [])})
    return _render(request, "list.html", incidents=docs[:PAGE_SIZE], more=len(docs) > PAGE_SIZE, offset=offset,
                   page_size=PAGE_SIZE, state=state or "", service=service or "", services=services)


async def incident_page(request: web.Request) -> web.Response:
    d = _daemon(request)
    view = await d.workspace.view(request.match_info["id"])
    if view is None:
        return _render(request, "list.html", status=404, incidents=[], more=False, offset=0, page_size=PAGE_SIZE,
                       state="", service="", services=[], missing=request.match_info["id"])
    ws = WorkspaceView.from_json(view)
    lay = layout(ws)
    return _render(request, "incident.html", inc=view, title=render_title(ws.incident), lay=lay,
                   next_candidate=lay["next_candidate"],
                   postmortem_url=f"/api/v1/incidents/{view['id']}/postmortem.md")


async def login_form(request: web.Request) -> web.Response:
    return _render(request, "login.html", error="")


LOGIN_RATE = 5.0 / 60.0  # failed logins a second per client address, after a burst of
LOGIN_BURST = 10.0
_MAX_CLIENTS = 10_000    # addresses remembered (the oldest forgotten first)
LOGIN_BUCKETS: web.AppKey[dict[str, TokenBucket]] = web.AppKey("login_buckets", dict)


def _client(request: web.Request) -> str:
    return request.remote or "?"


def _behind_tls(request: web.Request) -> bool:
    """HTTPS here, or at the proxy in front (X-Forwarded-Proto / Forwarded), or by the configured base URL."""
    if request.secure:
        return True
    if request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower() == "https":
        return True
    if "proto=https" in request.headers.get("Forwarded", "").lower():
        return True
    return str(getattr(_daemon(request), "base_url", "")).startswith("https://")


async def login(request: web.Request) -> web.Response:
    buckets = request.app[LOGIN_BUCKETS]
    bucket = buckets.get(_client(request))
    now = time.monotonic()
    # A client that has failed once pays a token for every attempt after it (10 at once, then 5 a
    # minute): guessing tokens is slow, a responder who mistyped is not locked out.
    if bucket is not None and (wait := bucket.take(1, now)) > 0:
        resp = _render(request, "login.html", status=429, error="Too many failed attempts: try again later.")
        resp.headers["Retry-After"] = str(max(1, round(wait)))
        return resp
    form = await request.post()
    token = str(form.get("token", ""))
    d = _daemon(request)
    if d.api_tokens.access(token) < Access.READ:
        if bucket is None:
            if len(buckets) >= _MAX_CLIENTS:
                buckets.pop(next(iter(buckets)))
            bucket = buckets[_client(request)] = TokenBucket(LOGIN_RATE, LOGIN_BURST)
            bucket.take(1, now)
        return _render(request, "login.html", status=403, error="That token is not valid.")
    resp = web.HTTPFound("/incidents")
    resp.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=_behind_tls(request), path="/")
    raise resp


async def favicon(request: web.Request) -> web.FileResponse:
    return web.FileResponse(HERE / "static" / "favicon.svg", headers={"Content-Type": "image/svg+xml"})


def add_routes(app: web.Application) -> None:
    app[ENV_KEY] = _environment()
    app[LOGIN_BUCKETS] = {}
    app.on_response_prepare.append(security_headers)
    r = app.router
    r.add_get("/", index)
    r.add_get("/incidents", incident_list)
    r.add_get("/incidents/{id}", incident_page)
    r.add_get("/favicon.ico", favicon)
    r.add_get("/login", login_form)
    r.add_post("/login", login)
    r.add_static("/static/", HERE / "static", append_version=False)
