"""What the edges (HTTP API, pages, workspace) may ask of the running daemon: one protocol per concept.

The runtime implements them; the API and the workspace depend on these, never on the runtime's
classes, so that neither imports the daemon and each can be tested against a small fake.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from correlators.incidents import Incident
from correlators.types import Cause, Change

from .events import AlertEvent

__all__ = ["AlertSink", "ChangeSink", "ClusterView", "CoreView", "FeedbackSink", "NoteSink", "Readiness"]


class ChangeSink(Protocol):
    """Takes changes from the edge: admission (back-pressure), then stored and fed to the core."""

    def admit(self, source: str, n: int) -> None: ...
    async def submit_changes(self, changes: Sequence[Change], source: str) -> list[bool]: ...


class AlertSink(Protocol):
    """Takes external alerts (Alertmanager webhooks): admission, then stored and fed to the core."""

    def admit_alerts(self, alerts: Sequence[AlertEvent]) -> None: ...
    async def submit_alerts(self, alerts: Sequence[AlertEvent]) -> list[bool]: ...


class FeedbackSink(Protocol):
    """Takes a responder's answer ("the cause was X") and learns from it."""

    async def record_feedback(self, incident_id: str, cause: Cause, note: str, actor: str) -> int: ...


class NoteSink(Protocol):
    """Sends a note about an incident (page document ``doc``) to the receivers paged about it."""

    async def send_note(self, doc: dict[str, Any], note: str, ts: float) -> int: ...


class Readiness(Protocol):
    """``/readyz`` and the gauges of ``/metrics``."""

    async def readiness(self) -> tuple[bool, list[str]]: ...
    async def refresh_gauges(self) -> None: ...


class ClusterView(Protocol):
    """``/api/v1/cluster``: this member, the leader, the members, and the series this member holds."""

    def cluster_status(self) -> dict[str, Any]: ...


class CoreView(Protocol):
    """What the workspace reads of the core: its event time, its open incidents, the changes it knows."""

    @property
    def now(self) -> float: ...
    def open_incidents(self) -> Iterable[Incident]: ...
    def changes_known_at(self, ts: float) -> list[Change]: ...
