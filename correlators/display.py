"""How numbers read, the same on every surface: signal values, changes, probabilities, durations and times.

The web page, the CLI, the notifier texts, the postmortem and the core's own sentences format through
these functions, so that a responder reads the same figure the same way wherever it is shown. A
signal's value is formatted by its :class:`~correlators.signals.SignalRole` (errors as a percentage of
requests, latency in ms or s, traffic in req/s), never by matching its name here: the role comes from
:func:`~correlators.signals.role_of`, the one place where a name implies a role.
"""

from __future__ import annotations

import math
import time

from .signals import SignalRole

__all__ = [
    "clock",
    "delta",
    "duration",
    "iso",
    "level_change",
    "probability",
    "signal_value",
    "stopwatch",
    "unit",
    "utc",
]


def unit(role: SignalRole) -> str:
    """The unit a signal of this role is shown in: ``%``, ``ms``, ``req/s`` or ``''`` (a bare number).

    >>> [unit(r) for r in (SignalRole.ERRORS, SignalRole.LATENCY, SignalRole.TRAFFIC, SignalRole.RESOURCE)]
    ['%', 'ms', 'req/s', '']
    """
    return {SignalRole.ERRORS: "%", SignalRole.LATENCY: "ms", SignalRole.TRAFFIC: "req/s"}.get(role, "")


def _is_ratio(role: SignalRole, v: float) -> bool:
    """Errors are shown as a percentage when the value is a ratio (an error count or rate is not)."""
    return role is SignalRole.ERRORS and 0.0 <= v <= 1.0


def signal_value(role: SignalRole, v: float) -> str:
    """A value of a signal as a responder reads it: ``4.8%``, ``0.43%``, ``180 ms``, ``12.5 s``, ``35.2 req/s``.

    >>> signal_value(SignalRole.ERRORS, 0.04976), signal_value(SignalRole.ERRORS, 0.004334)
    ('5.0%', '0.43%')
    >>> signal_value(SignalRole.LATENCY, 0.18), signal_value(SignalRole.LATENCY, 12.5)
    ('180 ms', '12.5 s')
    >>> signal_value(SignalRole.TRAFFIC, 35.24), signal_value(SignalRole.TRAFFIC, 1234.5)
    ('35.2 req/s', '1,234 req/s')
    >>> signal_value(SignalRole.RESOURCE, 0.123456), signal_value(SignalRole.ERRORS, 12.0)
    ('0.1235', '12')
    """
    if _is_ratio(role, v):
        pct = v * 100
        return f"{pct:.2f}%" if pct < 1 else f"{pct:.1f}%"
    if role is SignalRole.LATENCY:
        return f"{v * 1000:.0f} ms" if v < 10 else f"{v:.1f} s"
    if role is SignalRole.TRAFFIC:
        return f"{v:,.0f} req/s" if abs(v) >= 100 else f"{v:.3g} req/s"
    return f"{v:.4g}"


def level_change(role: SignalRole, before: float, after: float) -> str:
    """A shift from one level to another: ``0.40% → 5.1%``.

    >>> level_change(SignalRole.ERRORS, 0.004, 0.051), level_change(SignalRole.LATENCY, 0.12, 0.95)
    ('0.40% → 5.1%', '120 ms → 950 ms')
    """
    return f"{signal_value(role, before)} → {signal_value(role, after)}"


def delta(role: SignalRole, before: float, after: float) -> str:
    """How much a signal moved: percentage points for error ratios, a relative change for the rest.

    >>> delta(SignalRole.ERRORS, 0.004, 0.016), delta(SignalRole.ERRORS, 0.051, 0.004)
    ('+1.2 pp', '-4.7 pp')
    >>> delta(SignalRole.LATENCY, 0.2, 0.282), delta(SignalRole.TRAFFIC, 200.0, 50.0)
    ('+41%', '-75%')
    >>> delta(SignalRole.RESOURCE, 0.0, 3.0)
    '+3'
    """
    if _is_ratio(role, before) and _is_ratio(role, after):
        return f"{(after - before) * 100:+.1f} pp"
    if before == 0.0 or not math.isfinite(before):
        return f"{after - before:+.4g}"
    return f"{(after - before) / abs(before):+.0%}"


def probability(p: float) -> str:
    """A candidate's calibrated probability: ``78%``; below half a percent ``under 1%``, never a misleading ``0%``.

    >>> probability(0.78), probability(0.0049), probability(0.005)
    ('78%', 'under 1%', '1%')
    """
    if p < 0.005:
        return "under 1%"
    text = f"{p:.0%}"
    return "1%" if text == "0%" else text


def duration(seconds: float) -> str:
    """How long something took, as said aloud: ``45 s``, ``1 min 20 s``, ``3 min``, ``2 h 5 min``.

    Seconds are kept below ten minutes (where they matter: time to page), minutes are rounded after.

    >>> duration(45), duration(80), duration(180), duration(750), duration(7500), duration(7200), duration(-5)
    ('45 s', '1 min 20 s', '3 min', '12 min', '2 h 5 min', '2 h', '0 s')
    """
    s = round(max(0.0, seconds))
    if s < 60:
        return f"{s} s"
    if s < 600:
        m, r = divmod(s, 60)
        return f"{m} min" + (f" {r} s" if r else "")
    minutes = round(s / 60)
    if minutes < 60:
        return f"{minutes} min"
    h, m = divmod(minutes, 60)
    return f"{h} h" + (f" {m} min" if m else "")


def stopwatch(seconds: float) -> str:
    """A running clock (the page's ticking "investigating for"; its script counts the same way): ``12m 30s``.

    >>> stopwatch(750), stopwatch(3900), stopwatch(-1)
    ('12m 30s', '1h 05m', '0m 00s')
    """
    s = int(max(0.0, seconds))
    return f"{s // 3600}h {s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m {s % 60:02d}s"


def utc(ts: float | None, fmt: str = "%Y-%m-%d %H:%M:%S", *, missing: str = "—", suffix: str = " UTC") -> str:
    """A timestamp in UTC (every page, text and table is in UTC, 24 h): ``2026-09-21 14:13:20 UTC``.

    >>> utc(1_790_000_000.0), utc(1_790_000_000.0, "%H:%M", suffix=""), utc(None)
    ('2026-09-21 14:13:20 UTC', '14:13', '—')
    """
    return time.strftime(fmt, time.gmtime(ts)) + suffix if ts is not None else missing


def clock(ts: float | None) -> str:
    """The time of day in a sentence (``since 14:13 UTC``); ``?`` when unknown.

    >>> clock(1_790_000_000.0), clock(None)
    ('14:13', '?')
    """
    return utc(ts, "%H:%M", missing="?", suffix="") if ts else "?"


def iso(ts: float) -> str:
    """RFC 3339 UTC timestamp, for machine receivers.

    >>> iso(0)
    '1970-01-01T00:00:00Z'
    """
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
