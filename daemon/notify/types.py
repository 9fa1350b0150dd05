"""What a notifier receives and how it reports failure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = ["DeliveryError", "Notifier", "Page", "Permanent", "Retryable"]


@dataclass(frozen=True, slots=True)
class Page:
    """One page action for one incident: trigger, update or resolve.

    ``dedup_key`` is the incident's key at every receiver (PagerDuty ``dedup_key``,
    Opsgenie ``alias``): a re-send after a crash is deduplicated there.

    ``action`` is ``trigger``, ``update``, ``resolve``, ``acknowledge`` or ``note``
    (a responder's or the hypothesis loop's message about the incident). ``severity``
    is ``critical``, ``error``, ``warning`` or ``info``; ``service`` the incident's
    first service and ``runbook`` its runbook link from the config.
    """

    action: str
    incident_id: str
    dedup_key: str
    ts: float
    title: str
    text: str
    incident: dict[str, Any] = field(default_factory=dict)
    url: str = ""
    drill: bool = False
    severity: str = "critical"
    service: str = ""
    runbook: str = ""
    reason: str = ""
    hold: float | None = None
    """How long the outbox holds a resolve back (None: ``delivery.resolve_hold``); not sent."""

    @property
    def services(self) -> list[str]:
        """Every service of the incident (the first service alone when the document has none)."""
        return list(self.incident.get("services") or ([self.service] if self.service else []))

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action, "incident_id": self.incident_id, "dedup_key": self.dedup_key, "ts": self.ts,
            "title": self.title, "text": self.text, "url": self.url, "drill": self.drill, "incident": self.incident,
            "severity": self.severity, "service": self.service, "runbook": self.runbook, "reason": self.reason,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Page:
        return cls(str(data["action"]), str(data["incident_id"]), str(data["dedup_key"]), float(data["ts"]),
                   str(data["title"]), str(data["text"]), dict(data.get("incident") or {}),
                   str(data.get("url", "")), bool(data.get("drill", False)), str(data.get("severity", "critical")),
                   str(data.get("service", "")), str(data.get("runbook", "")), str(data.get("reason", "")))


class DeliveryError(Exception):
    """A receiver did not accept the page."""


class Retryable(DeliveryError):
    """Worth trying again (timeouts, 5xx, 429); ``retry_after`` in seconds when the receiver said so."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Permanent(DeliveryError):
    """Will never succeed as is (4xx other than 429, bad credentials, payload refused)."""


@runtime_checkable
class Notifier(Protocol):
    name: str

    async def send(self, page: Page, *, key: str) -> None: ...
