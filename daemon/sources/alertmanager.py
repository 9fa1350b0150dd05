"""Alertmanager's webhook (payload version 4) as input: firing alerts are anomalies, resolved ones recover.

Users keep their alert rules and gain the ranking: an alert's ``service`` label (or the
first of ``service_labels`` present) names the anomalous service, its ``alertname`` is the
signal (so ``HighErrorRate`` counts as an error signal), its fingerprint the series.
Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..core.events import AlertEvent
from ..core.guard import bounded_id, clean_text
from ..core.schema import InputError, parse_ts

__all__ = ["DEFAULT_SERVICE_LABELS", "SEVERITY_CONFIDENCE", "alerts_from_webhook"]

DEFAULT_SERVICE_LABELS = ("service", "app", "app_kubernetes_io_name", "job")

SEVERITY_CONFIDENCE = {
    "critical": 0.95, "page": 0.95, "error": 0.9, "high": 0.9, "major": 0.9,
    "warning": 0.7, "warn": 0.7, "minor": 0.6, "info": 0.3, "none": 0.2,
}
"""A severity label's weight as anomaly confidence; info alerts alone stay below the paging threshold."""

_ZERO_TIME = "0001-01-01T00:00:00Z"
MAX_NAME = 253


def _labels(raw: Any, field: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InputError(field, "expected an object of label names to values")
    return {clean_text(str(k), 200, single_line=True): clean_text(str(v), 4000) for k, v in raw.items()}


def _optional_ts(raw: Any) -> float | None:
    """A resolved alert's startsAt, part of its identity; absent or unreadable: None (endsAt stands in)."""
    if not raw or raw == _ZERO_TIME:
        return None
    try:
        return parse_ts(raw)
    except ValueError:
        return None


def alerts_from_webhook(body: Any, service_labels: Sequence[str] = DEFAULT_SERVICE_LABELS,
                        *, default_confidence: float = 0.8) -> tuple[list[AlertEvent], int]:
    """The alert events of one webhook call, and how many alerts were skipped (no service label).

    >>> body = {"version": "4", "status": "firing", "alerts": [
    ...     {"status": "firing", "labels": {"alertname": "HighErrorRate", "service": "checkout",
    ...      "severity": "critical"}, "annotations": {"summary": "5% errors"},
    ...      "startsAt": "2026-11-29T03:02:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "a1b2"}]}
    >>> events, skipped = alerts_from_webhook(body)
    >>> e = events[0]
    >>> e.service, e.signal, e.series, e.firing, e.confidence, skipped
    ('checkout', 'HighErrorRate', 'alert:a1b2', True, 0.95, 0)
    """
    if not isinstance(body, dict):
        raise InputError("body", "expected a JSON object (Alertmanager webhook payload)")
    version = body.get("version")
    if version is not None and str(version) != "4":
        raise InputError("version", f"expected Alertmanager webhook payload version 4, got {version!r}")
    alerts = body.get("alerts")
    if not isinstance(alerts, list):
        raise InputError("alerts", "expected a list of alerts")
    out: list[AlertEvent] = []
    skipped = 0
    for i, alert in enumerate(alerts):
        field = f"alerts.{i}"
        if not isinstance(alert, Mapping):
            raise InputError(field, "expected an object")
        labels = _labels(alert.get("labels"), f"{field}.labels")
        annotations = _labels(alert.get("annotations"), f"{field}.annotations")
        status = alert.get("status")
        if status not in ("firing", "resolved"):
            raise InputError(f"{field}.status", "expected firing or resolved")
        label = next((k for k in service_labels if labels.get(k)), "")
        service = clean_text(labels[label], single_line=True).strip() if label else ""
        if not service:
            skipped += 1
            continue
        if len(service) > MAX_NAME:
            raise InputError(f"{field}.labels.{label}", f"longer than {MAX_NAME} characters (a service name)")
        name = clean_text(labels.get("alertname") or "alert", single_line=True) or "alert"
        if len(name) > MAX_NAME:
            raise InputError(f"{field}.labels.alertname", f"longer than {MAX_NAME} characters")
        fingerprint = alert.get("fingerprint")
        if fingerprint is not None and not isinstance(fingerprint, (str, int)):
            raise InputError(f"{field}.fingerprint", "expected text")
        if not fingerprint:  # a digest of the labels: their full text can be longer than any key
            fingerprint = hashlib.sha256(json.dumps(sorted(labels.items())).encode()).hexdigest()[:16]
        fingerprint = bounded_id(str(fingerprint), 200)
        firing = status == "firing"
        when_field = f"{field}.startsAt" if firing else f"{field}.endsAt"
        raw_ts = alert.get("startsAt") if firing else alert.get("endsAt")
        if not raw_ts or raw_ts == _ZERO_TIME:
            raise InputError(when_field, "required field is missing")
        try:
            ts = parse_ts(raw_ts)
        except ValueError as e:
            raise InputError(when_field, str(e)) from None
        starts_at = ts if firing else _optional_ts(alert.get("startsAt"))
        confidence = SEVERITY_CONFIDENCE.get(labels.get("severity", "").lower(), default_confidence)
        summary = annotations.get("summary") or annotations.get("description") or name
        out.append(AlertEvent(ts, service, name, f"alert:{fingerprint}", firing, confidence,
                              clean_text(summary, 500), starts_at))
    return out, skipped
