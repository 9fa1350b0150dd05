"""Workspace routes of the JSON API: hypotheses, postmortem, health, silences, the OpenAPI document."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from correlators.types import Cause, CauseType

from ..core.schema import InputError, parse_ts
from ..workspace.hypotheses import HypothesisState
from ..workspace.postmortem import render_postmortem
from ..workspace.service import WorkspaceError
from .backend import Backend, backend
from .openapi import openapi_document
from .requests import float_param as _float_param
from .requests import int_param as _int_param
from .requests import json_body as _json_body

__all__ = ["add_routes", "parse_cause", "text_field"]


def _daemon(request: web.Request) -> Backend:
    return backend(request)


def parse_cause(raw: Any) -> Cause:
    """A cause in its JSON form, or :class:`InputError` naming the field."""
    if not isinstance(raw, dict):
        raise InputError("cause", 'expected an object such as {"type": "change", "id": "chg-1"} or {"type": "none"}')
    try:
        cause = Cause.from_json(raw)
    except ValueError:
        raise InputError("cause.type", "expected change, dependency, traffic or none") from None
    except KeyError as e:
        raise InputError(f"cause.{e.args[0]}", "required for this cause type") from None
    if cause.type is not CauseType.NONE and not cause.ref:
        raise InputError("cause", "the cause needs its id, target or service")
    return cause


def text_field(body: dict[str, Any], name: str, limit: int, *, required: bool = False) -> str:
    value = body.get(name, "")
    if not isinstance(value, str) or len(value) > limit:
        raise InputError(name, f"expected text up to {limit} characters")
    if required and not value.strip():
        raise InputError(name, "required")
    return value


async def _object_body(request: web.Request) -> dict[str, Any]:
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise InputError("body", "expected a JSON object")
    return body


async def _view(request: web.Request) -> dict[str, Any]:
    view = await _daemon(request).workspace.view(request.match_info["id"])
    if view is None:
        raise web.HTTPNotFound(reason="no such incident")
    return view


async def get_incident(request: web.Request) -> web.Response:
    """One incident: anomalies, candidates (with hypothesis states), dead ends, recommendation, timeline,
    series around the onset, changes, health, notifications, feedback."""
    return web.json_response(await _view(request))


async def post_hypothesis(request: web.Request) -> web.Response:
    body = await _object_body(request)
    cause = parse_cause(body.get("cause"))
    try:
        state = HypothesisState(body.get("state"))
    except ValueError:
        raise InputError("state", "expected investigating, confirmed or refuted") from None
    note = text_field(body, "note", 5000, required=state is HypothesisState.REFUTED)
    actor = text_field(body, "actor", 253)
    try:
        out = await _daemon(request).workspace.set_hypothesis(request.match_info["id"], cause, state, note, actor)
    except WorkspaceError as e:
        if e.status == 404:
            raise web.HTTPNotFound(reason=e.message) from None
        raise InputError(e.field, e.message) from None
    return web.json_response(out, status=201)


async def list_hypotheses(request: web.Request) -> web.Response:
    view = await _view(request)
    return web.json_response({"hypotheses": view["hypotheses"], "investigation": view["investigation"]})


async def postmortem(request: web.Request) -> web.Response:
    view = await _view(request)
    d = _daemon(request)
    url = f"{d.base_url}/incidents/{view['id']}" if d.base_url else ""
    return web.Response(text=render_postmortem(view, url=url), content_type="text/markdown", charset="utf-8",
                        headers={"Content-Disposition": f'inline; filename="{view["id"]}-postmortem.md"'})


async def list_health(request: web.Request) -> web.Response:
    events = await _daemon(request).store.health.find(
        since=_float_param(request, "since"), until=_float_param(request, "until"),
        limit=_int_param(request, "limit", 500, 1, 5000))
    return web.json_response({"health": [h.to_json() for h in events]})


async def list_silences(request: web.Request) -> web.Response:
    d = _daemon(request)
    active = request.query.get("active")
    if active not in (None, "true", "false"):
        raise InputError("active", "expected true or false")
    rows = await d.workspace.db.silences.find(active_at=d.clock() if active == "true" else None)
    return web.json_response({"silences": rows})


async def post_silence(request: web.Request) -> web.Response:
    """``{"service": "checkout" | "*", "ends_at": ts, "starts_at"?: ts, "reason": "...", "actor": "..."}``."""
    d = _daemon(request)
    body = await _object_body(request)
    service = text_field(body, "service", 253, required=True)
    now = d.clock()
    times: dict[str, float] = {}
    for name in ("starts_at", "ends_at"):
        if name in body:
            try:
                times[name] = parse_ts(body[name])
            except ValueError as e:
                raise InputError(name, str(e)) from None
    if "ends_at" not in times:
        raise InputError("ends_at", "required: when the silence ends (Unix seconds or RFC 3339)")
    starts = times.get("starts_at", now)
    if times["ends_at"] <= max(starts, now):
        raise InputError("ends_at", "must be in the future and after starts_at")
    reason = text_field(body, "reason", 2000, required=True)
    actor = text_field(body, "actor", 253)
    sid = await d.workspace.db.silences.add(service, starts, times["ends_at"], reason, actor, now)
    return web.json_response({"id": sid, "service": service, "starts_at": starts, "ends_at": times["ends_at"],
                              "reason": reason, "actor": actor}, status=201)


async def delete_silence(request: web.Request) -> web.Response:
    d = _daemon(request)
    try:
        sid = int(request.match_info["sid"])
    except ValueError:
        raise InputError("id", "expected an integer") from None
    if not await d.workspace.db.silences.expire(sid, d.clock()):
        raise web.HTTPNotFound(reason="no such silence")
    return web.json_response({"id": sid, "expired": True})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(_daemon(request).base_url))


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/incidents/{id}/hypotheses", list_hypotheses)
    r.add_post("/api/v1/incidents/{id}/hypotheses", post_hypothesis)
    r.add_get("/api/v1/incidents/{id}/postmortem.md", postmortem)
    r.add_get("/api/v1/health", list_health)
    r.add_get("/api/v1/silences", list_silences)
    r.add_post("/api/v1/silences", post_silence)
    r.add_delete("/api/v1/silences/{sid}", delete_silence)
    r.add_get("/api/v1/openapi.json", openapi)
