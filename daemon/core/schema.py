"""Validation at the edge: change events (``changes.jsonl`` and ``POST /api/v1/changes``).

Bad input gets a :class:`InputError` naming the field, never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from correlators.types import Change, ChangeKind

__all__ = ["ChangeIn", "InputError", "accepting_times", "format_validation_error", "parse_change", "parse_changes",
           "parse_ts"]

MAX_TEXT = 2000

_ACCEPT_TS: ContextVar[Callable[[float], str | None] | None] = ContextVar("accept_ts", default=None)


@contextmanager
def accepting_times(check: Callable[[float], str | None] | None) -> Iterator[None]:
    """Within this block (one request), :func:`parse_ts` also refuses times ``check`` objects to.

    ``check(ts)`` returns ``None`` for an acceptable time, else the reason (the edge's window
    around now, :class:`daemon.core.guard.TimeWindow`); the callers name the field.

    >>> with accepting_times(lambda ts: "too late" if ts > 100 else None):
    ...     parse_ts(50)
    ...     parse_ts(500)
    Traceback (most recent call last):
    ...
    ValueError: too late
    """
    token = _ACCEPT_TS.set(check)
    try:
        yield
    finally:
        _ACCEPT_TS.reset(token)


class InputError(ValueError):
    """Invalid input; ``field`` names what is wrong (dotted path), ``message`` says why."""

    def __init__(self, field: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message
        self.fields = fields or ([field] if field else [])

    def to_json(self) -> dict[str, Any]:
        """``field`` is the first field at fault; ``fields`` all of them (``message`` says what of each)."""
        return {"error": "invalid input", "field": self.field, "fields": self.fields, "message": self.message}


def parse_ts(value: Any) -> float:
    """Unix seconds (int/float) or RFC 3339 text to Unix seconds.

    >>> parse_ts(1790012310), parse_ts("2026-09-21T12:00:00Z")
    (1790012310.0, 1789992000.0)
    """
    if isinstance(value, bool):
        raise ValueError("expected Unix seconds or an RFC 3339 timestamp, got a boolean")
    if isinstance(value, (int, float)):
        try:
            ts = float(value)
        except OverflowError:
            raise ValueError("timestamp out of range") from None
    elif isinstance(value, str):
        text = value.strip()
        try:
            ts = float(text)
        except ValueError:
            try:
                dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            except ValueError:
                shown = value if len(value) <= 60 else value[:59] + "…"
                raise ValueError(f"expected Unix seconds or an RFC 3339 timestamp, got {shown!r}") from None
            if dt.tzinfo is None:
                raise ValueError("an RFC 3339 timestamp needs a time zone (e.g. Z or +00:00)") from None
            ts = dt.timestamp()
    else:
        raise ValueError("expected Unix seconds or an RFC 3339 timestamp")
    if not math.isfinite(ts) or ts < 0 or ts > 4_102_444_800:  # year 2100
        raise ValueError("timestamp out of range")
    check = _ACCEPT_TS.get()
    if check is not None and (why := check(ts)) is not None:
        raise ValueError(why)
    return ts


class ChangeIn(BaseModel):
    """One change event, exactly the ``changes.jsonl`` schema; ``id`` may be omitted (derived from content)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    id: str | None = Field(default=None, min_length=1, max_length=200)
    ts: float
    kind: ChangeKind
    service: str = Field(min_length=1, max_length=253)
    namespace: str = Field(default="", max_length=253)
    summary: str = Field(default="", max_length=MAX_TEXT)
    actor: str = Field(default="", max_length=253)
    attributes: dict[str, Any] = Field(default_factory=dict)
    status: Literal["progressing", "complete", "failed"] | None = None
    completed_at: float | None = None

    @field_validator("ts", mode="before")
    @classmethod
    def _ts(cls, v: Any) -> float:
        return parse_ts(v)

    @field_validator("completed_at", mode="before")
    @classmethod
    def _completed_at(cls, v: Any) -> float | None:
        return None if v is None else parse_ts(v)

    def to_change(self) -> Change:
        cid = self.id
        if not cid:
            body = json.dumps([self.ts, self.kind.value, self.service, self.namespace, self.summary,
                               self.attributes], sort_keys=True, default=str)
            cid = "chg-" + hashlib.sha256(body.encode()).hexdigest()[:12]
        status = self.status or ("complete" if self.completed_at is not None else "")
        completed = None if status == "progressing" else self.completed_at
        return Change(cid, self.ts, self.kind, self.service, self.namespace, self.summary, self.actor,
                      dict(self.attributes), status, completed)


def _one_error(err: Any, prefix: str) -> tuple[str, str]:
    loc = ".".join(str(p) for p in err["loc"])
    field = f"{prefix}{loc}" if loc else prefix.rstrip(".")
    msg = str(err["msg"])
    if err["type"] == "enum":
        msg = "expected one of " + ", ".join(k.value for k in ChangeKind)
    elif err["type"] == "literal_error" and loc == "status":
        msg = "expected one of progressing, complete, failed"
    elif err["type"] == "missing":
        msg = "required field is missing"
    return field, msg.removeprefix("Value error, ")


def format_validation_error(err: ValidationError, prefix: str = "") -> InputError:
    """Every field at fault in one error (``field`` is the first): a client fixes them all at once.

    >>> e = format_validation_error(_errors({}))
    >>> e.field, e.fields, e.message
    ('ts', ['ts', 'kind', 'service'], 'missing required fields: ts, kind, service')
    """
    found = [_one_error(e, prefix) for e in err.errors()]
    fields = [f for f, _ in found]
    if len(found) == 1:
        return InputError(fields[0], found[0][1], fields)
    if all(m == "required field is missing" for _, m in found):
        return InputError(fields[0], "missing required fields: " + ", ".join(fields), fields)
    return InputError(fields[0], "; ".join(f"{f}: {m}" for f, m in found), fields)


def _errors(data: Any) -> ValidationError:
    try:
        ChangeIn.model_validate(data)
    except ValidationError as e:
        return e
    raise AssertionError("valid")


def parse_change(data: Any, prefix: str = "") -> Change:
    if not isinstance(data, dict):
        raise InputError(prefix.rstrip(".") or "body", "expected a JSON object")
    try:
        return ChangeIn.model_validate(data).to_change()
    except ValidationError as e:
        raise format_validation_error(e, prefix) from None


def parse_changes(data: Any) -> list[Change]:
    """One change object, a list of them, or ``{"changes": [...]}``; all valid or none taken."""
    if isinstance(data, dict) and "changes" in data and isinstance(data["changes"], list):
        items, prefix = data["changes"], "changes."
    elif isinstance(data, list):
        items, prefix = data, ""
    else:
        return [parse_change(data)]
    if not items:
        raise InputError("changes", "expected at least one change")
    return [parse_change(item, f"{prefix}{i}.") for i, item in enumerate(items)]
