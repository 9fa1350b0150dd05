"""Reading a request: bounded JSON bodies, typed query parameters, timestamps in the daemon's window,
and the JSON error document every handler answers with (400 naming the field)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ..core.guard import TimeWindow, clean_json, clean_text, is_clean
from ..core.schema import InputError, accepting_times, parse_ts

__all__ = ["MAX_BODY", "MAX_PARAM", "check_url", "decode_json", "edge_times", "error_response", "float_param",
           "int_param", "json_body"]

MAX_BODY = 1024 * 1024


def error_response(status: int, field: str, message: str, fields: list[str] | None = None) -> web.Response:
    return web.json_response({"error": message, "field": field, "fields": fields or ([field] if field else []),
                              "message": message}, status=status)


def int_param(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
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


def float_param(request: web.Request, name: str) -> float | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        return parse_ts(raw)
    except ValueError as e:
        raise InputError(name, str(e)) from None


async def json_body(request: web.Request) -> Any:
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


def edge_times(window: TimeWindow, clock: Callable[[], float]) -> Any:
    """The request's timestamps must fall in the daemon's window around now (400 naming the field)."""
    return accepting_times(lambda ts: window.check(ts, clock()))


MAX_PARAM = 1000


def check_url(request: web.Request) -> None:
    """Path and query: no control character, no lone surrogate, no overlong value (400 naming it)."""
    if not is_clean(request.path) or "\n" in request.path or "\t" in request.path:
        raise InputError("path", "control characters or invalid text in the path")
    for name, value in request.query.items():
        if not is_clean(name) or not is_clean(value) or "\n" in value:
            raise InputError(clean_text(name, 60, single_line=True) or "query",
                             "control characters or invalid text")
        if len(value) > MAX_PARAM:
            raise InputError(clean_text(name, 60, single_line=True), f"longer than {MAX_PARAM} characters")


