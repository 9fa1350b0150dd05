"""What a notifier receives and how it reports failure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = ["Page", "Notifier", "DeliveryError", "Retryable", "Permanent"]


@dataclass(frozen=True, slots=True)
class Page:
    """One page action for one incident: trigger, update or resolve.

    ``dedup_key`` is the incident's key at every receiver (PagerDuty ``dedup_key``,
    Opsgenie ``alias``): a re-send after a crash is deduplicated there.
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

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action, "incident_id": self.incident_id, "dedup_key": self.dedup_key, "ts": self.ts,
            "title": self.title, "text": self.text, "url": self.url, "drill": self.drill, "incident": self.incident,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Page:
        return cls(str(data["action"]), str(data["incident_id"]), str(data["dedup_key"]), float(data["ts"]),
                   str(data["title"]), str(data["text"]), dict(data.get("incident") or {}),
                   str(data.get("url", "")), bool(data.get("drill", False)))


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
