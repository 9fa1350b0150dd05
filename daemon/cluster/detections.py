"""Detections as rows of the shared store: what replicas write and the leader reads back."""

from __future__ import annotations

from typing import Any

from detectors import Detection, Direction, EventKind

__all__ = ["detection_from_json", "detection_to_json"]


def detection_to_json(d: Detection) -> dict[str, Any]:
    """JSON of a detection.

    >>> d = Detection(EventKind.SHIFT, 10.0, 40.0, Direction.UP, 0.01, 0.1, 0.9)
    >>> detection_from_json(detection_to_json(d)) == d
    True
    """
    return {"kind": d.kind.value, "onset": d.onset, "detected_at": d.detected_at,
            "direction": d.direction.value, "before": d.before, "after": d.after, "confidence": d.confidence}


def detection_from_json(doc: dict[str, Any]) -> Detection:
    return Detection(EventKind(doc["kind"]), float(doc["onset"]), float(doc["detected_at"]),
                     Direction(doc["direction"]), float(doc["before"]), float(doc["after"]),
                     float(doc["confidence"]))
