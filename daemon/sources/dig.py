"""Read a value from nested JSON (webhook payloads, Kubernetes objects) by a dotted path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["dig"]


def dig(data: Any, path: str) -> Any:
    """The value at ``path`` (``"a.b.c"``), or ``None`` when a step is missing or not an object.

    >>> dig({"a": {"b": {"c": 1}}}, "a.b.c"), dig({"a": [1]}, "a.b"), dig(None, "a")
    (1, None, None)
    """
    cur: Any = data
    for part in path.split("."):
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(part)
    return cur
