"""The HTTP API: health, metrics, incidents, changes, feedback."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from ..guard import clean_json, clean_text, is_clean
from ..intake import Busy
from ..schema import InputError, accepting_times, parse_changes
from ..store import StoreError
from ..store.store import describe_store_error
from .auth import auth_middleware
from .incidents import add_routes as add_workspace_routes
from .incidents import get_incident, parse_cause, text_field

if TYPE_CHECKING:
    from ..service import Daemon

__all__ = ["DAEMON_KEY", "create_app"]

log = logging.getLogger("whatchanged.api")

DAEMON_KEY: web.AppKey[Daemon] = web.AppKey("daemon")


def _driver_errors() -> tuple[type[Exception], ...]:
    """The database drivers' own errors, for the few paths where SQLAlchemy does not wrap them."""
    errors: list[type[Exception]] = []
    try:
        import asyncpg
        errors += [asyncpg.PostgresError, asyncpg.InterfaceError]
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        pass
    import sqlite3
    errors.append(sqlite3.Error)
    return tuple(errors)


_STORE_ERRORS: tuple[type[Exception], ...] = (SQLAlchemyError, StoreError, OSError, *_driver_errors())
MAX_BODY = 1024 * 1024


def _error(status: int, field: str, message: str, fields: list[str] | None = None) -> web.Response:
    return web.json_response({"error": message, "field": field, "fields": fields or ([field] if field else []),
                              "message": message}, status=status)


def _daemon(request: web.Request) -> Daemon:
    return request.app[DAEMON_KEY]


def _int_param(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InputError(name, "expected an integer") from None
    if not lo <= value <= hi:
        raise InputError(name, f"expected {lo}..{hi}")
    return value


def _float_param(request: web.Request, name: str) -> float | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    from ..schema import parse_ts
    try:
        return parse_ts(raw)
    except ValueError as e:
        raise InputError(name, str(e)) from None


async def _json_body(request: web.Request) -> Any:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=request.content_length)
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise
    return decode_json(raw)


def decode_json(raw: bytes) -> Any:
    """Parse a request body; any way it can be bad is a 400 naming ``body``, never a 500."""
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError("body", f"not valid JSON ({getattr(e, 'msg', 'bad encoding')})") from None
    except RecursionError:
        raise InputError("body", "JSON nested too deeply") from None
    except ValueError:  # e.g. an integer of more digits than Python converts
        raise InputError("body", "not valid JSON (a number is out of range)") from None
    # text any store holds (no lone surrogate, no NUL), finite numbers, bounded nesting
    return clean_json(doc)


def edge_times(daemon: Daemon) -> Any:
    """The request's timestamps must fall in the daemon's window around now (400 naming the field)."""
    return accepting_times(lambda ts: daemon.time_window.check(ts, daemon.clock()))


MAX_PARAM = 1000


def _check_url(request: web.Request) -> None:
    """Path and query: no control character, no lone surrogate, no overlong value (400 naming it)."""
    if not is_clean(request.path) or "\n" in request.path or "\t" in request.path:
        raise InputError("path", "control characters or invalid text in the path")
    for name, value in request.query.items():
        if not is_clean(name) or not is_clean(value) or "\n" in value:
            raise InputError(clean_text(name, 60, single_line=True) or "query",
                             "control characters or invalid text")
        if len(value) > MAX_PARAM:
            raise InputError(clean_text(name, 60, single_line=True), f"longer than {MAX_PARAM} characters")


@web.middleware
async def errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    daemon = request.app.get(DAEMON_KEY)
    try:
        _check_url(request)
        resp: web.StreamResponse = await handler(request)
    except InputError as e:
        resp = _error(400, e.field, e.message, e.fields)
    except Busy as e:  # back-pressure: nothing of this request was taken
        resp = _error(429, "", e.message)
        resp.headers["Retry-After"] = str(e.retry_after)
    except web.HTTPRequestEntityTooLarge:
        resp = _error(413, "body", f"request body larger than {MAX_BODY} bytes")
    except web.HTTPException as e:
        if e.status < 400:
            if daemon is not None:
                daemon.metrics.http_requests.labels(route, str(e.status)).inc()
            raise  # redirects pass through (returning them is deprecated in aiohttp)
        resp = _error(e.status, "", e.reason)
    except _STORE_ERRORS as e:
        # the store is down, restarting, read-only or full: nothing was taken (each write is one transaction)
        reason = describe_store_error(e)
        log.warning("store unavailable on %s %s: %s (%s)", request.method, request.path, reason, type(e).__name__)
        resp = _error(503, "", f"{reason}; nothing was stored, retry later")
        resp.headers["Retry-After"] = "5"
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        resp = _error(500, "", "internal error (logged)")
    if daemon is not None:
        daemon.metrics.http_requests.labels(route, str(resp.status)).inc()
    return resp


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    ready, reasons = await _daemon(request).readiness()
    return web.json_response({"ready": ready, "reasons": reasons}, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    d = _daemon(request)
    await d.refresh_gauges()
    body = generate_latest(d.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def list_incidents(request: web.Request) -> web.Response:
    state = request.query.get("state")
    if state not in (None, "open", "resolved"):
        raise InputError("state", "expected open or resolved")
    docs = await _daemon(request).store.incidents.find(
        state=state, service=request.query.get("service") or None, since=_float_param(request, "since"),
        limit=_int_param(request, "limit", 50, 1, 500), offset=_int_param(request, "offset", 0, 0, 1_000_000))
    return web.json_response({"incidents": docs})


async def post_changes(request: web.Request) -> web.Response:
    body = await _json_body(request)
    d = _daemon(request)
    with edge_times(d):
        changes = parse_changes(body)
    d.admit("api", len(changes))
    inserted = await d.submit_changes(changes, source="api")
    return web.json_response({
        "accepted": sum(inserted), "duplicates": len(inserted) - sum(inserted),
        "ids": [c.id for c in changes],
    }, status=202)


async def list_changes(request: web.Request) -> web.Response:
    changes = await _daemon(request).store.changes.find(
        since=_float_param(request, "since"), until=_float_param(request, "until"),
        service=request.query.get("service") or None, limit=_int_param(request, "limit", 200, 1, 5000))
    return web.json_response({"changes": [c.to_json() for c in changes]})


async def post_feedback(request: web.Request) -> web.Response:
    d = _daemon(request)
    incident_id = request.match_info["id"]
    if await d.store.incidents.get(incident_id) is None:
        return _error(404, "id", "no such incident")
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise InputError("body", "expected a JSON object")
    cause = parse_cause(body.get("cause"))
    note = text_field(body, "note", 5000)
    actor = text_field(body, "actor", 253)
    fid = await d.record_feedback(incident_id, cause, note, actor)
    return web.json_response({"id": fid, "incident_id": incident_id, "cause": cause.to_json()}, status=201)


async def cluster_status(request: web.Request) -> web.Response:
    d = _daemon(request)
    if d.cluster is None:
        return web.json_response({"member": "0", "leader": True, "members": ["0"],
                                  "series": sorted(d.engine.series_keys())})
    return web.json_response(d.cluster.status())


def create_app(daemon: Daemon) -> web.Application:
    app = web.Application(middlewares=[errors_middleware, auth_middleware(lambda r: r.app[DAEMON_KEY].api_tokens)],
                          client_max_size=MAX_BODY)
    app[DAEMON_KEY] = daemon
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/v1/cluster", cluster_status)
    app.router.add_get("/api/v1/incidents", list_incidents)
    app.router.add_get("/api/v1/incidents/{id}", get_incident)
    app.router.add_post("/api/v1/incidents/{id}/feedback", post_feedback)
    app.router.add_post("/api/v1/changes", post_changes)
    app.router.add_get("/api/v1/changes", list_changes)
    add_workspace_routes(app)
    from ..web.pages import add_routes as add_pages
    add_pages(app)
    from . import webhooks
    webhooks.add_routes(app)
    return app
