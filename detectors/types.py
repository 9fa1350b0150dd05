"""Shared types of the detectors: what a detector emits and the protocol it follows.

Detectors are pure: no I/O, no asyncio, no wall clock. Time is the timestamp of
each sample (Unix seconds, float).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = ["Detection", "Detector", "Direction", "EventKind", "State"]

State = dict[str, Any]
"""A detector's JSON-serialisable state, with a ``"version"`` key."""


class Direction(str, enum.Enum):
    """Which way the series moved."""

    UP = "up"
    DOWN = "down"


class EventKind(str, enum.Enum):
    """What a :class:`Detection` reports."""

    SHIFT = "shift"
    """The series left its baseline: an anomaly begins."""
    RECOVERY = "recovery"
    """The series came back to the level it had before the last shift."""
    EVIDENCE = "evidence"
    """A deviation short of a shift (low confidence): where a fault may sit, never a page.
    If it grows into a shift, a SHIFT follows from the same onset; a RECOVERY ends either."""


@dataclass(frozen=True, slots=True)
class Detection:
    """A change point found online.

    ``onset`` is the estimated time the change began (not when it was noticed),
    ``detected_at`` the timestamp of the sample that decided it.
    ``before`` and ``after`` are robust levels on each side; ``confidence`` is in [0, 1].
    """

    kind: EventKind
    onset: float
    detected_at: float
    direction: Direction
    before: float
    after: float
    confidence: float


@runtime_checkable
class Detector(Protocol):
    """An online detector of one series.

    ``update`` consumes one sample in timestamp order and returns the event it
    decided, if any; there is no flag to poll. ``state_dict``/``load_state``
    round-trip through JSON: a detector restored mid-stream gives output
    identical to one that never stopped.
    """

    def update(self, ts: float, value: float) -> Detection | None: ...

    def state_dict(self) -> State: ...

    def load_state(self, state: State) -> None: ...
