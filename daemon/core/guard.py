"""Guards at the edge: text, numbers, sizes and times that the core and the store can hold.

Every input (API and webhook bodies, alerts, changes from any source, Prometheus labels,
events replayed from the store at start-up) passes through these before it reaches the
core or the store, so no value can crash the analysis loop or make every store write fail:

- text: lone surrogates (``"\\ud800"``, not encodable as UTF-8) become U+FFFD; control
  characters (NUL, which PostgreSQL refuses in text, among them) are removed;
- numbers: finite only (JSON's ``NaN``/``Infinity`` and overflowing ``1e999`` are refused,
  naming the field), integers within 64 bits;
- sizes: identifiers longer than their column are refused (or, where there is no sender to
  tell, replaced by a digest), free text is clipped;
- times: an :class:`TimeWindow` around now; events outside it are refused at the edge and
  quarantined in the core.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from correlators.types import Change

from .events import AlertEvent
from .schema import MAX_TEXT, InputError

__all__ = ["MAX_DEPTH", "TimeWindow", "bounded_id", "check_change", "clean_alert", "clean_change", "clean_json",
           "clean_text", "guarded", "is_clean"]

MAX_DEPTH = 32
"""How deeply a JSON body may nest (each level is a recursion in every consumer)."""
MAX_INT = 2 ** 63
_DROP = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_DROP_ALL = re.compile("[\x00-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")

T = TypeVar("T")


def clean_text(value: str, limit: int | None = None, *, single_line: bool = False) -> str:
    """Text any store and any receiver can hold: no lone surrogate, no control character.

    ``single_line`` also drops tabs and line breaks (identifiers, labels); ``limit`` clips.

    >>> clean_text("a\\ud800b\\x00c\\nd"), clean_text("x\\ny", single_line=True), clean_text("abcdef", 3)
    ('a\ufffdbc\\nd', 'xy', 'abc')
    """
    if value.isascii() and (value.isprintable() or not (_DROP_ALL if single_line else _DROP).search(value)):
        return value if limit is None else value[:limit]
    out = _SURROGATE.sub("\ufffd", value)
    out = (_DROP_ALL if single_line else _DROP).sub("", out)
    return out if limit is None else out[:limit]


def is_clean(value: str) -> bool:
    """No lone surrogate and no control character (a stored value that needs no repair)."""
    return clean_text(value, single_line=False) == value


def bounded_id(value: str, limit: int) -> str:
    """An identifier that fits ``limit`` characters: itself, or a prefix and a digest of the whole.

    Distinct long values stay distinct (the digest), the same one maps to the same id.

    >>> bounded_id("abc", 10), len(bounded_id("x" * 600, 512)), bounded_id("x" * 600, 512) == bounded_id("x" * 600, 512)
    ('abc', 512, True)
    """
    value = clean_text(value, single_line=True)
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:16]
    return value[: limit - 17] + "#" + digest


def clean_json(value: Any, field: str = "body", depth: int = 0) -> Any:
    """A decoded JSON document with its text cleaned (keys too) and its numbers checked.

    Raises :class:`InputError` naming the field for a non-finite number, an integer beyond
    64 bits, or nesting deeper than :data:`MAX_DEPTH`.

    >>> clean_json({"a\\ud800": ["x\\x00", 1.5]})
    {'a\ufffd': ['x', 1.5]}
    >>> clean_json({"images": [1, float("inf")]})
    Traceback (most recent call last):
    ...
    daemon.core.schema.InputError: images.1: expected a finite number
    """
    if depth > MAX_DEPTH:
        raise InputError(field, f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError(field, "expected a finite number")
        return value
    if isinstance(value, int):
        if abs(value) >= MAX_INT:
            raise InputError(field, "number out of range (more than 64 bits)")
        return value
    prefix = "" if field == "body" else f"{field}."
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_json(v, f"{prefix}{clean_text(str(k), 60, single_line=True)}", depth + 1)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v, f"{prefix}{i}", depth + 1) for i, v in enumerate(value)]
    raise InputError(field, f"unsupported value of type {type(value).__name__}")


def _json_or_empty(value: Any) -> Any:
    try:
        return clean_json(value)
    except InputError:
        return None


# -- events from any source: the last line before the core and the store ----------------------------
def clean_change(ch: Change) -> Change:
    """A change any store holds: text cleaned and clipped to its columns, attributes JSON-safe.

    Used where no sender can be told (Kubernetes, the stream, start-up replay); the API and
    the webhooks refuse over-long fields first, naming them.
    """
    if not (math.isfinite(ch.ts) and (ch.completed_at is None or math.isfinite(ch.completed_at))):
        raise ValueError("change timestamp is not finite")
    attrs = ch.attributes
    try:
        attrs = clean_json(dict(attrs), "attributes")
    except InputError:
        attrs = {k: v for k, v in ((clean_text(str(k)), _json_or_empty(v)) for k, v in attrs.items())
                 if v is not None}
    fixed = replace(ch, id=bounded_id(ch.id, 200), service=bounded_id(ch.service, 253),
                    namespace=clean_text(ch.namespace, 253, single_line=True),
                    summary=clean_text(ch.summary, MAX_TEXT), actor=clean_text(ch.actor, 253, single_line=True),
                    attributes=attrs)
    if not fixed.service:
        raise ValueError("change without a service")
    return fixed


_CHANGE_LIMITS = (("id", 200), ("service", 253), ("namespace", 253), ("actor", 253))
MAX_ATTRIBUTES = 64 * 1024


def check_change(ch: Change) -> Change:
    """A change from a webhook adapter, its fields within what the store holds, or an
    :class:`InputError` naming the field (the sender is there to be told).

    >>> from correlators.types import ChangeKind
    >>> check_change(Change("c1", 1.0, ChangeKind.DEPLOY, "x" * 300))
    Traceback (most recent call last):
    ...
    daemon.core.schema.InputError: service: longer than 253 characters
    """
    for name, limit in _CHANGE_LIMITS:
        value = getattr(ch, name)
        if len(value) > limit:
            raise InputError(name, f"longer than {limit} characters")
    if not ch.service.strip():
        raise InputError("service", "required field is missing")
    attrs = clean_json(dict(ch.attributes), "attributes")
    if len(json.dumps(attrs, default=str)) > MAX_ATTRIBUTES:
        raise InputError("attributes", f"larger than {MAX_ATTRIBUTES} bytes as JSON")
    return replace(ch, id=clean_text(ch.id, single_line=True), service=clean_text(ch.service, single_line=True),
                   namespace=clean_text(ch.namespace, single_line=True), actor=clean_text(ch.actor, single_line=True),
                   summary=clean_text(ch.summary, MAX_TEXT), attributes=attrs)


def clean_alert(a: AlertEvent) -> AlertEvent:
    """An alert any store holds: finite times and confidence, text cleaned, identifiers bounded."""
    if not math.isfinite(a.ts) or (a.starts_at is not None and not math.isfinite(a.starts_at)):
        raise ValueError("alert timestamp is not finite")
    conf = a.confidence if math.isfinite(a.confidence) else 0.8
    fixed = replace(a, service=bounded_id(a.service, 253), signal=bounded_id(a.signal, 253),
                    series=bounded_id(a.series, 400), summary=clean_text(a.summary, 500),
                    confidence=min(1.0, max(0.0, conf)))
    if not fixed.service:
        raise ValueError("alert without a service")
    return fixed


@dataclass(frozen=True)
class TimeWindow:
    """Event times accepted: from ``max_age`` seconds before now to ``max_future`` after."""

    max_age: float = 365 * 86400.0
    max_future: float = 900.0

    def bounds(self, now: float) -> tuple[float, float]:
        return now - self.max_age, now + self.max_future

    def check(self, ts: float, now: float) -> str | None:
        """``None`` when ``ts`` is acceptable, else why not.

        >>> w = TimeWindow(max_age=3600, max_future=60)
        >>> w.check(1000.0, 1000.0), w.check(2000.0, 1000.0), w.check(float("inf"), 1000.0)
        (None, 'timestamp 1970-01-01T00:33:20Z is more than 1m ahead of now', 'timestamp is not finite')
        """
        if not math.isfinite(ts):
            return "timestamp is not finite"
        lo, hi = self.bounds(now)
        if ts > hi:
            return f"timestamp {_iso(ts)} is more than {_span(self.max_future)} ahead of now"
        if ts < lo:
            return f"timestamp {_iso(ts)} is more than {_span(self.max_age)} old"
        return None


def _iso(ts: float) -> str:
    import time
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
    except (OverflowError, OSError, ValueError):
        return repr(ts)


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def guarded(fn: Callable[[], T], field: str) -> T:
    """Run ``fn``; a ValueError, TypeError or OverflowError becomes an :class:`InputError` on ``field``."""
    try:
        return fn()
    except InputError:
        raise
    except (ValueError, TypeError, OverflowError) as e:
        raise InputError(field, str(e) or type(e).__name__) from None
