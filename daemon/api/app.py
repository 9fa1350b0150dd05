"""The HTTP API: health, metrics, incidents, changes, feedback."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from ..core.intake import Busy
from ..core.schema import InputError, parse_changes
from ..store import StoreError
from ..store.store import describe_store_error
from ..web.pages import add_routes as add_pages
from . import webhooks
from .auth import auth_middleware
from .backend import BACKEND, Backend, backend, backend_of
from .incidents import add_routes as add_workspace_routes
from .incidents import get_incident, parse_cause, text_field
from .requests import MAX_BODY, check_url, edge_times, error_response, float_param, int_param, json_body

__all__ = ["create_app", "errors_middleware"]

log = logging.getLogger("whatchanged.api")


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


@web.middleware
async def errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    daemon = backend_of(request.app)
    try:
        check_url(request)
        resp: web.StreamResponse = await handler(request)
    except InputError as e:
        resp = error_response(400, e.field, e.message, e.fields)
    except Busy as e:  # back-pressure: nothing of this request was taken
        resp = error_response(429, "", e.message)
        resp.headers["Retry-After"] = str(e.retry_after)
    except web.HTTPRequestEntityTooLarge:
        resp = error_response(413, "body", f"request body larger than {MAX_BODY} bytes")
    except web.HTTPException as e:
        if e.status < 400:
            if daemon is not None:
                daemon.metrics.http_requests.labels(route, str(e.status)).inc()
            raise  # redirects pass through (returning them is deprecated in aiohttp)
        resp = error_response(e.status, "", e.reason)
    except _STORE_ERRORS as e:
        # the store is down, restarting, read-only or full: nothing was taken (each write is one transaction)
        reason = describe_store_error(e)
        log.warning("store unavailable on %s %s: %s (%s)", request.method, request.path, reason, type(e).__name__)
        resp = error_response(503, "", f"{reason}; nothing was stored, retry later")
        resp.headers["Retry-After"] = "5"
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        resp = error_response(500, "", "internal error (logged)")
    if daemon is not None:
        daemon.metrics.http_requests.labels(route, str(resp.status)).inc()
    return resp


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    ready, reasons = await backend(request).readiness()
    return web.json_response({"ready": ready, "reasons": reasons}, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    d = backend(request)
    await d.refresh_gauges()
    body = generate_latest(d.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def list_incidents(request: web.Request) -> web.Response:
    state = request.query.get("state")
    if state not in (None, "open", "resolved"):
        raise InputError("state", "expected open or resolved")
    docs = await backend(request).store.incidents.find(
        state=state, service=request.query.get("service") or None, since=float_param(request, "since"),
        limit=int_param(request, "limit", 50, 1, 500), offset=int_param(request, "offset", 0, 0, 1_000_000))
    return web.json_response({"incidents": docs})


async def post_changes(request: web.Request) -> web.Response:
    body = await json_body(request)
    d = backend(request)
    with edge_times(d.time_window, d.clock):
        changes = parse_changes(body)
    d.admit("api", len(changes))
    inserted = await d.submit_changes(changes, source="api")
    return web.json_response({
        "accepted": sum(inserted), "duplicates": len(inserted) - sum(inserted),
        "ids": [c.id for c in changes],
    }, status=202)


async def list_changes(request: web.Request) -> web.Response:
    changes = await backend(request).store.changes.find(
        since=float_param(request, "since"), until=float_param(request, "until"),
        service=request.query.get("service") or None, limit=int_param(request, "limit", 200, 1, 5000))
    return web.json_response({"changes": [c.to_json() for c in changes]})


async def post_feedback(request: web.Request) -> web.Response:
    d = backend(request)
    incident_id = request.match_info["id"]
    if await d.store.incidents.get(incident_id) is None:
        return error_response(404, "id", "no such incident")
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InputError("body", "expected a JSON object")
    cause = parse_cause(body.get("cause"))
    note = text_field(body, "note", 5000)
    actor = text_field(body, "actor", 253)
    fid = await d.record_feedback(incident_id, cause, note, actor)
    return web.json_response({"id": fid, "incident_id": incident_id, "cause": cause.to_json()}, status=201)


async def cluster_status(request: web.Request) -> web.Response:
    return web.json_response(backend(request).cluster_status())


def create_app(daemon: Backend) -> web.Application:
    """The HTTP API and the pages of a running daemon (anything that satisfies :class:`Backend`)."""
    app = web.Application(middlewares=[errors_middleware, auth_middleware(lambda r: r.app[BACKEND].api_tokens)],
                          client_max_size=MAX_BODY)
    app[BACKEND] = daemon
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
    add_pages(app)
    webhooks.add_routes(app)
    return app
