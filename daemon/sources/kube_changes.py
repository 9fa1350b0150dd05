"""Turn Kubernetes API objects (raw JSON, as the API serves them) into :class:`Change` records. Pure.

Workloads (Deployment, StatefulSet, DaemonSet) and HorizontalPodAutoscalers, ConfigMaps,
Secrets (metadata only) and Nodes are diffed against the last state seen, kept in a small
JSON-serialisable snapshot so a restart resumes the diff. A rollout is recorded when its
revision moves; when it later completes (or exceeds its progress deadline) a
:class:`~daemon.core.events.ChangeStatus` for the same change id follows. Pods and Events map without state:
their changes carry ids derived from the object (uid, container, restart count), so seeing
the same trouble again after a re-list is recorded once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from correlators.types import Change, ChangeKind

from ..core.events import ChangeStatus
from .dig import dig

__all__ = ["WORKLOADS", "KubeDiffer", "event_changes", "pod_changes", "rollout_outcome", "service_of"]

Observed = Change | ChangeStatus

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
HISTORY = 20  # template hashes remembered per workload, to recognise rollbacks


def _ts(text: Any) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _id(*parts: Any) -> str:
    return "k8s-" + hashlib.sha256("/".join(str(p) for p in parts).encode()).hexdigest()[:16]


def _strip_hashes(name: str, owner_kind: str) -> str:
    """``checkout-7d9f8b6c5d`` (a ReplicaSet) to ``checkout``; ``web-0`` (StatefulSet pod) keeps the set name."""
    head, _, tail = name.rpartition("-")
    if owner_kind == "ReplicaSet" and head and tail.isalnum():
        return head
    return name


def service_of(obj: Mapping[str, Any], labels_order: Sequence[str]) -> str:
    """The service an object belongs to: the first configured label, else its owner's name, else its name.

    >>> pod = {"metadata": {"name": "checkout-7d9f8b6c5d-x2k4q", "labels": {"pod-template-hash": "7d9f8b6c5d"},
    ...        "ownerReferences": [{"kind": "ReplicaSet", "name": "checkout-7d9f8b6c5d"}]}}
    >>> service_of(pod, ["app.kubernetes.io/name", "app"])
    'checkout'
    """
    labels = dig(obj, "metadata.labels") or {}
    for key in labels_order:
        if labels.get(key):
            return str(labels[key])
    owners = dig(obj, "metadata.ownerReferences") or []
    if owners and isinstance(owners[0], Mapping):
        return _strip_hashes(str(owners[0].get("name", "")), str(owners[0].get("kind", "")))
    return str(dig(obj, "metadata.name") or "")


def _actor(obj: Mapping[str, Any]) -> str:
    """Who last changed the spec, when the API knows (the newest managedFields manager)."""
    fields = dig(obj, "metadata.managedFields") or []
    best: tuple[float, str] | None = None
    for f in fields:
        if not isinstance(f, Mapping) or f.get("subresource"):
            continue
        t = _ts(f.get("time")) or 0.0
        if best is None or t >= best[0]:
            best = (t, str(f.get("manager", "")))
    return best[1] if best else ""


def _images(template: Mapping[str, Any]) -> dict[str, str]:
    spec = template.get("spec") or {}
    out = {}
    for group in ("initContainers", "containers"):
        for c in spec.get(group) or []:
            if isinstance(c, Mapping):
                out[str(c.get("name"))] = str(c.get("image", ""))
    return out


class KubeDiffer:
    """Remembers the last state of each watched object; reports what changed as :class:`Change` records."""

    def __init__(self, service_labels: Sequence[str] = ("app.kubernetes.io/name", "app"),
                 snapshot: Mapping[str, Any] | None = None) -> None:
        self.service_labels = list(service_labels)
        self.snapshot: dict[str, dict[str, Any]] = dict(snapshot or {})

    # -- state ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"version": 1, "objects": self.snapshot}

    @classmethod
    def from_state(cls, state: Mapping[str, Any] | None, service_labels: Sequence[str]) -> KubeDiffer:
        if not state or state.get("version") != 1:
            return cls(service_labels)
        return cls(service_labels, state.get("objects", {}))

    @staticmethod
    def key(kind: str, obj: Mapping[str, Any]) -> str:
        return f"{kind}/{dig(obj, 'metadata.namespace') or ''}/{dig(obj, 'metadata.name')}"

    # -- entry points -----------------------------------------------------------------------
    def observe(self, kind: str, event_type: str, obj: Mapping[str, Any], now: float) -> list[Observed]:
        """One watch event (ADDED, MODIFIED, DELETED) of ``kind``; returns the changes (and the
        outcomes of earlier rollouts) it shows."""
        if kind == "Pod":
            return list[Observed](pod_changes(obj, self.service_labels)) if event_type != "DELETED" else []
        if kind == "Event":
            return list[Observed](event_changes(obj, now)) if event_type != "DELETED" else []
        key = self.key(kind, obj)
        if event_type == "DELETED":
            self.snapshot.pop(key, None)
            return []
        handlers: dict[str, Callable[[str, Mapping[str, Any], dict[str, Any] | None, float],
                                     tuple[dict[str, Any], Sequence[Observed]]]] = {
            "Deployment": self._workload, "StatefulSet": self._workload, "DaemonSet": self._workload,
            "ConfigMap": self._configmap, "Secret": self._secret,
            "HorizontalPodAutoscaler": self._hpa, "Node": self._node}
        handler = handlers.get(kind)
        if handler is None:
            return []
        prev = self.snapshot.get(key)
        state, changes = handler(kind, obj, prev, now)
        self.snapshot[key] = state
        return list(changes)

    def sync(self, kind: str, objs: Sequence[Mapping[str, Any]], now: float,
             namespace: str = "") -> list[Observed]:
        """A full list of ``kind`` (after start or 410 Gone): diff each object, forget the vanished."""
        seen = {self.key(kind, o) for o in objs}
        prefix = f"{kind}/{namespace}/" if namespace else f"{kind}/"
        for key in [k for k in self.snapshot if k.startswith(prefix) and k not in seen]:
            del self.snapshot[key]
        out: list[Observed] = []
        for o in objs:
            out += self.observe(kind, "MODIFIED", o, now)
        return out

    # -- workloads ----------------------------------------------------------------------------
    def _workload(self, kind: str, obj: Mapping[str, Any], prev: dict[str, Any] | None,
                  now: float) -> tuple[dict[str, Any], list[Observed]]:
        template = dig(obj, "spec.template") or {}
        tmpl = _hash(template)
        images = _images(template)
        if kind == "Deployment":
            revision = str((dig(obj, "metadata.annotations") or {}).get(REVISION_ANNOTATION, ""))
        elif kind == "StatefulSet":
            revision = str(dig(obj, "status.updateRevision") or "")
        else:
            revision = str(dig(obj, "metadata.generation") or "")
        history: dict[str, str] = dict(prev.get("history", {})) if prev else {}
        state: dict[str, Any] = {"revision": revision, "tmpl": tmpl, "images": images, "history": history}
        if prev is None:
            if revision:
                history[tmpl] = revision
            return state, []
        if kind == "Deployment" and not revision:
            return {**prev, "images": prev.get("images", {})}, []
        # a rollout: the revision moved (Deployments, StatefulSets) or the template changed (DaemonSets)
        moved = revision != prev.get("revision") if kind != "DaemonSet" else tmpl != prev.get("tmpl")
        if not moved:
            if prev.get("tmpl") != tmpl and kind == "Deployment":
                state["tmpl"], state["images"] = prev["tmpl"], prev.get("images", {})  # revision follows shortly
            return state, self._progress(kind, obj, prev.get("pending"), state, now)
        old_images = prev.get("images", {})
        changed = {c: [old_images.get(c), img] for c, img in images.items() if old_images.get(c) != img}
        rolled_back_to = history.get(tmpl) if tmpl != prev.get("tmpl") else None
        history[tmpl] = revision
        while len(history) > HISTORY:
            history.pop(next(iter(history)))
        ns = str(dig(obj, "metadata.namespace") or "")
        name = str(dig(obj, "metadata.name"))
        service = service_of(obj, self.service_labels) or name
        from_rev = str(prev.get("revision") or "")
        ts = now
        if kind == "Deployment":
            for cond in dig(obj, "status.conditions") or []:
                if cond.get("type") == "Progressing" and cond.get("reason") in ("NewReplicaSetCreated",
                                                                                 "FoundNewReplicaSet",
                                                                                 "ReplicaSetUpdated"):
                    ts = min(now, _ts(cond.get("lastUpdateTime")) or now)
        attrs: dict[str, Any] = {
            "source": "kubernetes", "workload_kind": kind.lower(), "workload": name,
            "from_revision": from_rev, "to_revision": revision,
            "previous_revision_present": bool(from_rev),
            "images_changed": changed, "image": next(iter(images.values()), ""),
        }
        cause = (dig(obj, "metadata.annotations") or {}).get(CHANGE_CAUSE)
        if cause:
            attrs["change_cause"] = str(cause)[:500]
        if rolled_back_to:
            attrs["rolled_back_to"] = rolled_back_to
        outcome = rollout_outcome(kind, obj, since=ts, now=now)
        attrs["rollout_complete"] = outcome is not None and outcome[0] == "complete"
        if outcome is not None and outcome[2]:
            attrs["status_reason"] = outcome[2]
        kind_ = ChangeKind.ROLLBACK if rolled_back_to else ChangeKind.DEPLOY
        what = "rollback" if rolled_back_to else "rollout"
        imgs = ", ".join(f"{c} {o or '-'} -> {n}" for c, (o, n) in changed.items())
        summary = f"{service} {what} revision {from_rev or '?'} -> {revision}" + (f" ({imgs})" if imgs else "")
        cid = _id(kind, ns, name, revision, tmpl)
        status, completed = (outcome[0], outcome[1]) if outcome else ("progressing", None)
        if status != "complete":  # watched until it completes (a failed one may still complete)
            state["pending"] = {"id": cid, "ts": ts, "status": status}
        return state, [Change(cid, ts, kind_, service, ns, summary[:2000], _actor(obj), attrs, status, completed)]

    @staticmethod
    def _progress(kind: str, obj: Mapping[str, Any], pending: Mapping[str, Any] | None, state: dict[str, Any],
                  now: float) -> list[Observed]:
        """The outcome of the rollout under way, once it is known (and once per outcome)."""
        if not pending:
            return []
        outcome = rollout_outcome(kind, obj, since=float(pending.get("ts") or 0.0), now=now)
        if outcome is None or outcome[0] == pending.get("status"):
            state["pending"] = dict(pending)
            return []
        status, at, reason = outcome
        if status != "complete":
            state["pending"] = {**pending, "status": status}
        return [ChangeStatus(now, str(pending["id"]), status, at, reason)]

    # -- config ---------------------------------------------------------------------------------
    def _configmap(self, kind: str, obj: Mapping[str, Any], prev: dict[str, Any] | None,
                   now: float) -> tuple[dict[str, Any], list[Change]]:
        """Which keys changed and a hash of the data; the values themselves are not kept."""
        digests = {k: _hash(v) for group in ("data", "binaryData") for k, v in (obj.get(group) or {}).items()}
        state = {"keys": digests, "hash": _hash(digests)}
        if prev is None or prev.get("hash") == state["hash"]:
            return state, []
        old: dict[str, str] = prev.get("keys", {})
        keys = sorted(k for k in set(old) | set(digests) if old.get(k) != digests.get(k))
        ns = str(dig(obj, "metadata.namespace") or "")
        name = str(dig(obj, "metadata.name"))
        service = service_of(obj, self.service_labels)
        attrs: dict[str, Any] = {"source": "kubernetes", "configmap": name, "keys_changed": keys,
                                 "hash": state["hash"], "previous_hash": prev.get("hash", "")}
        summary = f"configmap {name} changed: {', '.join(keys[:20])}" + (" …" if len(keys) > 20 else "")
        return state, [Change(_id(kind, ns, name, state["hash"], dig(obj, "metadata.resourceVersion")), now,
                              ChangeKind.CONFIG, service, ns, summary, _actor(obj), attrs)]

    def _secret(self, kind: str, obj: Mapping[str, Any], prev: dict[str, Any] | None,
                now: float) -> tuple[dict[str, Any], list[Change]]:
        """Metadata only: key names and who wrote it when; values are never read, hashed or kept."""
        keys = sorted((obj.get("data") or {}).keys())
        state = {"keys": keys, "time": _actor_time(obj)}
        if prev is None or (prev.get("keys") == keys and prev.get("time") == state["time"]):
            return state, []
        old = set(prev.get("keys", []))
        changed = sorted(old ^ set(keys))
        ns = str(dig(obj, "metadata.namespace") or "")
        name = str(dig(obj, "metadata.name"))
        attrs: dict[str, Any] = {"source": "kubernetes", "secret": name, "keys_changed": changed, "keys": keys}
        summary = f"secret {name} updated" + (f" (keys added/removed: {', '.join(changed)})" if changed else "")
        return state, [Change(_id(kind, ns, name, dig(obj, "metadata.resourceVersion")), now, ChangeKind.CONFIG,
                              service_of(obj, self.service_labels), ns, summary, _actor(obj), attrs)]

    # -- scaling and nodes ----------------------------------------------------------------------
    def _hpa(self, kind: str, obj: Mapping[str, Any], prev: dict[str, Any] | None,
             now: float) -> tuple[dict[str, Any], list[Change]]:
        desired = dig(obj, "status.desiredReplicas")
        state = {"desired": desired}
        if prev is None or desired is None or prev.get("desired") in (None, desired):
            return state, []
        ns = str(dig(obj, "metadata.namespace") or "")
        target = str(dig(obj, "spec.scaleTargetRef.name") or dig(obj, "metadata.name"))
        ts = min(now, _ts(dig(obj, "status.lastScaleTime")) or now)
        attrs = {"source": "kubernetes", "hpa": dig(obj, "metadata.name"), "from_replicas": prev["desired"],
                 "to_replicas": desired, "target_kind": dig(obj, "spec.scaleTargetRef.kind") or ""}
        summary = f"{target} autoscaled {prev['desired']} -> {desired} replicas"
        return state, [Change(_id(kind, ns, target, ts, desired), ts, ChangeKind.SCALE, target, ns, summary,
                              "horizontal-pod-autoscaler", attrs)]

    def _node(self, kind: str, obj: Mapping[str, Any], prev: dict[str, Any] | None,
              now: float) -> tuple[dict[str, Any], list[Change]]:
        ready = "Unknown"
        since = None
        reason = ""
        for cond in dig(obj, "status.conditions") or []:
            if cond.get("type") == "Ready":
                ready, since, reason = str(cond.get("status")), _ts(cond.get("lastTransitionTime")), \
                    str(cond.get("reason") or "")
        state = {"ready": ready}
        if prev is None or prev.get("ready") == ready:
            return state, []
        name = str(dig(obj, "metadata.name"))
        ts = min(now, since or now)
        word = "Ready" if ready == "True" else "NotReady"
        attrs = {"source": "kubernetes", "node": name, "ready": ready, "reason": reason}
        return state, [Change(_id(kind, name, ready, ts), ts, ChangeKind.INFRA, name, "",
                              f"node {name} {word}" + (f" ({reason})" if reason else ""), "", attrs)]


def rollout_outcome(kind: str, obj: Mapping[str, Any], *, since: float,
                    now: float) -> tuple[str, float, str] | None:
    """``(status, when, reason)`` of a workload's current rollout once it has completed or failed, else None.

    Only a status that has observed the current spec counts (``observedGeneration >=
    generation``). Deployment: complete when ``updatedReplicas == availableReplicas ==
    replicas == spec.replicas``, or the Progressing condition says NewReplicaSetAvailable
    (``when`` is then its lastUpdateTime); failed when Progressing is False for
    ProgressDeadlineExceeded. StatefulSet: ``updateRevision == currentRevision`` and
    ``updatedReplicas == spec.replicas``. DaemonSet: ``updatedNumberScheduled ==
    desiredNumberScheduled == numberAvailable``. ``when`` falls back to ``now`` and is kept
    within ``[since, now]`` (a condition left from an older rollout does not date this one).

    >>> dep = {"metadata": {"generation": 2}, "spec": {"replicas": 2},
    ...        "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2,
    ...                   "conditions": [{"type": "Progressing", "status": "True",
    ...                                   "reason": "NewReplicaSetAvailable",
    ...                                   "lastUpdateTime": "2026-11-29T03:02:00Z"}]}}
    >>> rollout_outcome("Deployment", dep, since=0.0, now=1.9e9)
    ('complete', 1795921320.0, 'NewReplicaSetAvailable')
    >>> dep["status"]["observedGeneration"] = 1  # the controller has not seen the new spec yet
    >>> rollout_outcome("Deployment", dep, since=0.0, now=1.9e9) is None
    True
    """
    status = obj.get("status") or {}
    if (status.get("observedGeneration") or 0) < (dig(obj, "metadata.generation") or 0):
        return None

    def when(text: Any) -> float:
        t = _ts(text)
        return now if t is None or t < since or t > now else t

    want = dig(obj, "spec.replicas")
    want = 1 if want is None else want
    if kind == "Deployment":
        progressing = next((c for c in status.get("conditions") or []
                            if isinstance(c, Mapping) and c.get("type") == "Progressing"), {})
        reason = str(progressing.get("reason") or "")
        if progressing.get("status") == "False" and reason == "ProgressDeadlineExceeded":
            return "failed", when(progressing.get("lastUpdateTime")), reason
        if reason == "NewReplicaSetAvailable" and progressing.get("status") == "True":
            return "complete", when(progressing.get("lastUpdateTime")), reason
        if status.get("updatedReplicas", 0) == want == status.get("availableReplicas", 0) \
                and status.get("replicas", 0) == want:
            return "complete", now, ""
        return None
    if kind == "StatefulSet":
        update, current = status.get("updateRevision"), status.get("currentRevision")
        if update and update == current and status.get("updatedReplicas", 0) == want:
            return "complete", now, ""
        return None
    if kind == "DaemonSet":
        scheduled = status.get("desiredNumberScheduled", 0)
        if status.get("updatedNumberScheduled", 0) == scheduled == status.get("numberAvailable", 0):
            return "complete", now, ""
    return None


def _actor_time(obj: Mapping[str, Any]) -> str:
    times = [str(f.get("time", "")) for f in dig(obj, "metadata.managedFields") or [] if isinstance(f, Mapping)]
    return max(times, default="")


def pod_changes(pod: Mapping[str, Any], service_labels: Sequence[str]) -> list[Change]:
    """OOMKilled containers, CrashLoopBackOff, eviction and failed scheduling of one pod, as ``infra`` changes.

    >>> pod = {"metadata": {"name": "checkout-7d9f8b6c5d-x2k4q", "namespace": "shop", "uid": "u1",
    ...                     "labels": {"app": "checkout"}},
    ...        "status": {"phase": "Running", "containerStatuses": [{"name": "app", "restartCount": 3,
    ...                   "state": {"waiting": {"reason": "CrashLoopBackOff"}},
    ...                   "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137,
    ...                                                "finishedAt": "2026-11-29T03:01:00Z"}}}]}}
    >>> for c in pod_changes(pod, ["app"]):
    ...     print(c.service, c.kind.value, c.summary)
    checkout infra checkout pod checkout-7d9f8b6c5d-x2k4q container app OOMKilled (restart 3)
    checkout infra checkout pod checkout-7d9f8b6c5d-x2k4q container app CrashLoopBackOff
    """
    meta = pod.get("metadata") or {}
    ns, name, uid = str(meta.get("namespace", "")), str(meta.get("name", "")), str(meta.get("uid", ""))
    service = service_of(pod, service_labels)
    status = pod.get("status") or {}
    out: list[Change] = []

    def add(key: tuple[Any, ...], ts: float | None, what: str, attrs: dict[str, Any]) -> None:
        if ts is None:
            return
        out.append(Change(_id("Pod", ns, uid or name, *key), ts, ChangeKind.INFRA, service, ns,
                          f"{service} pod {name} {what}", "", {"source": "kubernetes", "pod": name, **attrs}))

    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        cname, restarts = cs.get("name"), cs.get("restartCount", 0)
        for where in ("state", "lastState"):
            term = dig(cs, f"{where}.terminated") or {}
            if term.get("reason") == "OOMKilled":
                n = restarts if where == "lastState" else restarts + 1
                add(("oom", cname, n), _ts(term.get("finishedAt")) or _ts(term.get("startedAt")),
                    f"container {cname} OOMKilled (restart {n})", {"container": cname, "reason": "OOMKilled"})
        waiting = dig(cs, "state.waiting") or {}
        if waiting.get("reason") in ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull",
                                     "CreateContainerConfigError"):
            ts = _ts(dig(cs, "lastState.terminated.finishedAt")) or _ts(status.get("startTime"))
            add((waiting["reason"], cname), ts, f"container {cname} {waiting['reason']}",
                {"container": cname, "reason": waiting["reason"]})
    if status.get("reason") == "Evicted":
        ts = max((t for c in status.get("conditions") or [] if (t := _ts(c.get("lastTransitionTime")))),
                 default=_ts(status.get("startTime")))
        add(("evicted",), ts, f"evicted: {str(status.get('message', ''))[:200]}", {"reason": "Evicted"})
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False" and \
                cond.get("reason") == "Unschedulable":
            add(("unschedulable",), _ts(cond.get("lastTransitionTime")),
                f"failed scheduling: {str(cond.get('message', ''))[:200]}", {"reason": "FailedScheduling"})
    return out


_EVENT_REASONS = {"OOMKilling", "Evicted", "FailedScheduling", "BackOff", "NodeNotReady", "SystemOOM",
                  "FailedCreate", "FailedMount", "Unhealthy"}


def event_changes(ev: Mapping[str, Any], now: float) -> list[Change]:
    """A core/v1 Event worth an ``infra`` change (warnings about pods and nodes), once per Event uid and count."""
    reason = str(ev.get("reason") or "")
    if reason not in _EVENT_REASONS or ev.get("type") not in ("Warning", None):
        return []
    inv = ev.get("involvedObject") or ev.get("regarding") or {}
    kind, name = str(inv.get("kind", "")), str(inv.get("name", ""))
    ns = str(inv.get("namespace") or dig(ev, "metadata.namespace") or "")
    if kind == "Pod":
        head, _, _ = name.rpartition("-")
        service = _strip_hashes(head, "ReplicaSet") if head else name
    else:
        service = name
    ts = _ts(ev.get("lastTimestamp")) or _ts(ev.get("eventTime")) or _ts(ev.get("firstTimestamp")) or now
    uid = dig(ev, "metadata.uid") or dig(ev, "metadata.name")
    count = ev.get("count") or 1
    attrs = {"source": "kubernetes", "reason": reason, "object": f"{kind.lower()}/{name}", "count": count}
    return [Change(_id("Event", uid, count), ts, ChangeKind.INFRA, service, ns,
                   f"{kind.lower()} {name} {reason}: {str(ev.get('message', ''))[:300]}", "", attrs)]
