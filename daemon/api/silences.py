"""Silences and maintenance windows over HTTP: pages they match are recorded, never sent.

``POST /api/v1/silences`` ``{"kind": "maintenance", "services": ["checkout"], "severities": [],
"starts_at": "2026-11-29T02:00:00Z", "ends_at": "2026-11-29T04:00:00Z" | "duration": "2h",
"comment": "db migration", "created_by": "ana"}``; ``GET /api/v1/silences?active=true``;
``DELETE /api/v1/silences/{id}`` ends one now (kept for the record).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..notify.silences import KINDS
from ..schema import InputError, parse_ts

if TYPE_CHECKING:
    from ..service import Daemon

__all__ = ["add_routes", "parse_silence"]

_SEVERITIES = ("critical", "error", "warning", "info")


def _strings(body: dict[str, Any], field: str, allowed: tuple[str, ...] | None = None) -> list[str]:
    value = body.get(field, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and 0 < len(v) <= 253 for v in value):
        raise InputError(field, "expected a list of names")
    if allowed is not None and (bad := [v for v in value if v not in allowed]):
        raise InputError(field, f"unknown {', '.join(bad)}; expected {', '.join(allowed)}")
    return value


def parse_silence(body: Any, now: float) -> dict[str, Any]:
    """Validate a silence request; :class:`InputError` names the bad field."""
    from ..config import parse_duration
    if not isinstance(body, dict):
        raise InputError("body", "expected a JSON object")
    unknown = set(body) - {"kind", "services", "severities", "starts_at", "ends_at", "duration", "comment",
                           "created_by"}
    if unknown:
        raise InputError(min(unknown), "unknown field")
    kind = body.get("kind", "silence")
    if kind not in KINDS:
        raise InputError("kind", f"expected one of {', '.join(KINDS)}")
    try:
        starts = parse_ts(body["starts_at"]) if "starts_at" in body else now
    except (ValueError, TypeError) as e:
        raise InputError("starts_at", str(e)) from None
    if ("ends_at" in body) == ("duration" in body):
        raise InputError("ends_at", "give ends_at or duration (one of them)")
    if "duration" in body:
        try:
            ends = starts + parse_duration(body["duration"])
        except ValueError as e:
            raise InputError("duration", str(e)) from None
    else:
        try:
            ends = parse_ts(body["ends_at"])
        except (ValueError, TypeError) as e:
            raise InputError("ends_at", str(e)) from None
    if ends <= starts:
        raise InputError("ends_at", "must be after starts_at")
    out: dict[str, Any] = {"kind": kind, "services": _strings(body, "services"),
                           "severities": _strings(body, "severities", _SEVERITIES),
                           "starts_at": starts, "ends_at": ends}
    for field, limit in (("comment", 5000), ("created_by", 253)):
        value = body.get(field, "")
        if not isinstance(value, str) or len(value) > limit:
            raise InputError(field, f"expected text up to {limit} characters")
        out[field] = value
    return out


def _daemon(request: web.Request) -> Daemon:
    from .app import DAEMON_KEY
    return request.app[DAEMON_KEY]


async def post_silence(request: web.Request) -> web.Response:
    from .app import _json_body
    d = _daemon(request)
    now = d.clock()
    s = parse_silence(await _json_body(request), now)
    sid = await d.store.add_silence(**s, now=now)
    return web.json_response({"id": sid, **s}, status=201)


async def list_silences(request: web.Request) -> web.Response:
    d = _daemon(request)
    active = request.query.get("active", "")
    if active not in ("", "true", "false"):
        raise InputError("active", "expected true or false")
    rows = await d.store.list_silences(active_at=d.clock() if active == "true" else None)
    return web.json_response({"silences": rows})


async def delete_silence(request: web.Request) -> web.Response:
    d = _daemon(request)
    raw = request.match_info["id"]
    if not raw.isdigit():
        raise InputError("id", "expected a silence id")
    if not await d.store.expire_silence(int(raw), d.clock()):
        raise web.HTTPNotFound(reason="no such silence")
    return web.json_response({"id": int(raw), "expired": True})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/silences", post_silence)
    app.router.add_get("/api/v1/silences", list_silences)
    app.router.add_delete("/api/v1/silences/{id}", delete_silence)
