"""Which pods ran which version of a service: the Kubernetes watch's pods, by pod-template-hash.

The watch hands each Pod object (listed or watched) to :meth:`PodIndex.observe`; a confirm test
asks :meth:`PodIndex.split` for the pods of the ReplicaSet a deploy created (the pod-template-hash
whose pods appeared with the change) and those of the one it replaced. Deleted pods are kept for
``retention``: the old ReplicaSet's pods are gone by the time a rollout completes, and their
series are still in Prometheus.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..sources.kube_changes import service_of

__all__ = ["PodIndex", "PodInfo", "Split"]

HASH_LABEL = "pod-template-hash"


@dataclass(frozen=True, slots=True)
class PodInfo:
    name: str
    namespace: str
    service: str
    hash: str
    created: float
    deleted: float | None = None


@dataclass(frozen=True, slots=True)
class Split:
    """The pods of the new and the old ReplicaSet of a service around a change."""

    new_hash: str
    old_hash: str
    new_pods: tuple[str, ...]
    old_pods: tuple[str, ...]


def _ts(text: Any) -> float | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class PodIndex:
    """The pods seen by the watch, per namespace and service.

    Examples
    --------
    >>> idx = PodIndex(["app"])
    >>> def pod(name, h, created):
    ...     return {"metadata": {"name": name, "namespace": "shop", "labels": {"app": "checkout",
    ...             "pod-template-hash": h}, "creationTimestamp": created}}
    >>> idx.observe("ADDED", pod("checkout-aaa-1", "aaa", "2026-12-01T03:00:00Z"), 0.0)
    >>> idx.observe("ADDED", pod("checkout-bbb-1", "bbb", "2026-12-01T03:10:05Z"), 0.0)
    >>> s = idx.split("shop", "checkout", since=dt.datetime(2026, 12, 1, 3, 10, tzinfo=dt.UTC).timestamp())
    >>> s.new_hash, s.old_hash, s.new_pods, s.old_pods
    ('bbb', 'aaa', ('checkout-bbb-1',), ('checkout-aaa-1',))
    """

    def __init__(self, service_labels: Sequence[str] = ("app.kubernetes.io/name", "app"),
                 retention: float = 6 * 3600.0) -> None:
        self.service_labels = list(service_labels)
        self.retention = retention
        self._pods: dict[tuple[str, str], PodInfo] = {}

    def __len__(self) -> int:
        return len(self._pods)

    def observe(self, event_type: str, obj: Mapping[str, Any], now: float) -> None:
        """One Pod from a list or a watch event (``ADDED``, ``MODIFIED``, ``DELETED``)."""
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        h = str(labels.get(HASH_LABEL, ""))
        name, ns = str(meta.get("name", "")), str(meta.get("namespace", ""))
        if not h or not name:
            return
        key = (ns, name)
        created = _ts(meta.get("creationTimestamp"))
        old = self._pods.get(key)
        deleted = now if event_type == "DELETED" else None
        self._pods[key] = PodInfo(name, ns, service_of(obj, self.service_labels), h,
                                  created if created is not None else (old.created if old else now), deleted)
        horizon = now - self.retention
        if len(self._pods) > 1000:
            self._pods = {k: p for k, p in self._pods.items() if p.deleted is None or p.deleted >= horizon}

    def pods(self, namespace: str, service: str) -> list[PodInfo]:
        return [p for p in self._pods.values() if p.service == service and (not namespace or p.namespace == namespace)]

    def split(self, namespace: str, service: str, since: float, slack: float = 120.0) -> Split | None:
        """The new ReplicaSet (its first pod created within ``slack`` of ``since`` or after it, the
        earliest such) and the old one (its pods created before the change: the latest such);
        None when either is unknown."""
        by_hash: dict[str, list[PodInfo]] = {}
        for p in self.pods(namespace, service):
            by_hash.setdefault(p.hash, []).append(p)
        first = {h: min(p.created for p in ps) for h, ps in by_hash.items()}
        newer = sorted((t, h) for h, t in first.items() if t >= since - slack)
        if not newer:
            return None
        new = newer[0][1]
        older = sorted((t, h) for h, t in first.items() if h != new and t < first[new])
        if not older:
            return None
        old = older[-1][1]
        return Split(new, old, tuple(sorted(p.name for p in by_hash[new])), tuple(sorted(p.name for p in by_hash[old])))
