"""A local aiohttp server speaking the parts of the Kubernetes API the source uses.

List (with limit/continue), watch streams (newline-delimited JSON events from a
resourceVersion), bookmarks, and 410 Gone for a compacted resourceVersion, as a real API
server does. Objects are plain JSON shaped like the real API's.
"""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

from aiohttp import web

GROUPS = {
    "deployments": ("apis/apps/v1", "Deployment"), "statefulsets": ("apis/apps/v1", "StatefulSet"),
    "daemonsets": ("apis/apps/v1", "DaemonSet"), "configmaps": ("api/v1", "ConfigMap"),
    "secrets": ("api/v1", "Secret"), "pods": ("api/v1", "Pod"), "events": ("api/v1", "Event"),
    "nodes": ("api/v1", "Node"), "horizontalpodautoscalers": ("apis/autoscaling/v2", "HorizontalPodAutoscaler"),
}


class FakeKubeAPI:
    def __init__(self, token: str = "test-token") -> None:
        self.token = token
        self.rv = 100
        self.objects: dict[str, dict[str, dict[str, Any]]] = {p: {} for p in GROUPS}
        self.log: list[tuple[int, str, str, dict[str, Any]]] = []  # (rv, plural, type, object)
        self.compacted = 0  # watches from a resourceVersion below this get 410 Gone
        self.fail_next: list[int] = []  # statuses to answer the next requests with
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._changed = asyncio.Condition()
        self._streams: set[web.StreamResponse] = set()
        self._close_streams = asyncio.Event()

    # -- feeding it ----------------------------------------------------------------------
    async def put(self, plural: str, obj: dict[str, Any], event: str | None = None) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        group, kind = GROUPS[plural]
        obj.setdefault("apiVersion", group.removeprefix("apis/").removeprefix("api/"))
        obj.setdefault("kind", kind)
        key = f"{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"
        kind_of = event or ("MODIFIED" if key in self.objects[plural] else "ADDED")
        self.objects[plural][key] = obj
        self.log.append((self.rv, plural, kind_of, obj))
        async with self._changed:
            self._changed.notify_all()
        return obj

    async def bookmark(self) -> None:
        self.rv += 1
        self.log.append((self.rv, "*", "BOOKMARK", {}))
        async with self._changed:
            self._changed.notify_all()

    def compact(self) -> None:
        """Forget history up to now: older resourceVersions now answer 410 Gone."""
        self.compacted = self.rv + 1

    async def drop_watches(self) -> None:
        """End every open watch stream (as an API server restart or a load balancer would)."""
        self._close_streams.set()
        async with self._changed:
            self._changed.notify_all()
        await asyncio.sleep(0.05)
        self._close_streams.clear()

    # -- serving -------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application()
        for plural, (group, _) in GROUPS.items():
            app.router.add_get(f"/{group}/{plural}", self._handler(plural))
            app.router.add_get(f"/{group}/namespaces/{{namespace}}/{plural}", self._handler(plural))
        return app

    def _handler(self, plural: str) -> Any:
        async def handle(request: web.Request) -> web.StreamResponse:
            self.requests.append((request.path, dict(request.query)))
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or token != self.token:  # the scheme is case-insensitive, as the API server's
                return web.json_response(_status(401, "Unauthorized", "Unauthorized"), status=401)
            if self.fail_next:
                code = self.fail_next.pop(0)
                return web.json_response(_status(code, "InternalError", "injected failure"), status=code)
            ns = request.match_info.get("namespace", "")
            if request.query.get("watch") in ("true", "1", "True"):
                return await self._watch(request, plural, ns)
            return self._list(request, plural, ns)
        return handle

    def _matching(self, plural: str, ns: str) -> list[dict[str, Any]]:
        return [o for k, o in sorted(self.objects[plural].items()) if not ns or k.split("/")[0] == ns]

    def _list(self, request: web.Request, plural: str, ns: str) -> web.Response:
        items = self._matching(plural, ns)
        limit = int(request.query.get("limit", "0") or 0)
        start = int(request.query.get("continue", "0") or 0)
        page = items[start:start + limit] if limit else items[start:]
        meta: dict[str, Any] = {"resourceVersion": str(self.rv)}
        if limit and start + limit < len(items):
            meta["continue"] = str(start + limit)
        group, kind = GROUPS[plural]
        return web.json_response({"kind": f"{kind}List", "apiVersion": group.split("/", 1)[1],
                                  "metadata": meta, "items": page})

    async def _watch(self, request: web.Request, plural: str, ns: str) -> web.StreamResponse:
        since = int(request.query.get("resourceVersion", "0") or 0)
        bookmarks = request.query.get("allowWatchBookmarks") in ("true", "True", "1")
        timeout = float(request.query.get("timeoutSeconds", "30"))
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        if since and since < self.compacted:
            await _send(resp, {"type": "ERROR", "object": _status(410, "Expired",
                                                                   f"too old resource version: {since} "
                                                                   f"({self.compacted})")})
            return resp
        group, kind = GROUPS[plural]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        sent = since
        while loop.time() < deadline and not self._close_streams.is_set():
            for rv, p, typ, obj in list(self.log):
                if rv <= sent:
                    continue
                sent = rv
                if typ == "BOOKMARK":
                    if bookmarks:
                        await _send(resp, {"type": "BOOKMARK", "object": {
                            "kind": kind, "apiVersion": group.split("/", 1)[1],
                            "metadata": {"resourceVersion": str(rv)}}})
                    continue
                if p != plural or (ns and obj["metadata"].get("namespace") != ns):
                    continue
                await _send(resp, {"type": typ, "object": obj})
            async with self._changed:
                try:
                    await asyncio.wait_for(self._changed.wait(), timeout=max(0.01, deadline - loop.time()))
                except TimeoutError:
                    break
        return resp


async def _send(resp: web.StreamResponse, event: dict[str, Any]) -> None:
    await resp.write(json.dumps(event).encode() + b"\n")


def write_kubeconfig(path: Path, server: str, token: str) -> Path:
    """A kubeconfig at ``path`` whose current context reaches ``server`` with a bearer ``token``."""
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "fake", "cluster": {"server": server.rstrip("/")}}],
        "users": [{"name": "me", "user": {"token": token}}],
        "contexts": [{"name": "test", "context": {"cluster": "fake", "user": "me"}}],
    }))
    return path


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


# -- objects shaped like the real API's -----------------------------------------------------
def deployment(name: str, ns: str, image: str, revision: int, *, generation: int = 1, cause: str = "",
               manager: str = "kubectl-client-side-apply", ready: bool = True) -> dict[str, Any]:
    annotations = {"deployment.kubernetes.io/revision": str(revision)}
    if cause:
        annotations["kubernetes.io/change-cause"] = cause
    replicas = 3
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "uid": f"uid-{name}", "generation": generation,
                     "labels": {"app.kubernetes.io/name": name}, "annotations": annotations,
                     "creationTimestamp": "2026-11-01T00:00:00Z",
                     "managedFields": [{"manager": manager, "operation": "Update", "apiVersion": "apps/v1",
                                        "time": "2026-11-29T03:00:00Z", "fieldsType": "FieldsV1",
                                        "fieldsV1": {"f:spec": {}}},
                                       {"manager": "kube-controller-manager", "operation": "Update",
                                        "apiVersion": "apps/v1", "time": "2026-11-29T03:00:30Z",
                                        "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {}},
                                        "subresource": "status"}]},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                 "template": {"metadata": {"labels": {"app.kubernetes.io/name": name}},
                              "spec": {"containers": [{"name": "app", "image": image,
                                                       "ports": [{"containerPort": 8080, "protocol": "TCP"}]}]}},
                 "strategy": {"type": "RollingUpdate",
                              "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}},
        "status": {"observedGeneration": generation, "replicas": replicas,
                   "updatedReplicas": replicas if ready else 1, "readyReplicas": replicas if ready else 1,
                   "availableReplicas": replicas if ready else 1,
                   "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetCreated",
                                   "message": f'Created new replica set "{name}-6d4cf56db6"',
                                   "lastUpdateTime": "2026-11-29T03:01:00Z",
                                   "lastTransitionTime": "2026-11-29T03:01:00Z"}]},
    }


def configmap(name: str, ns: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns, "uid": f"uid-cm-{name}", "labels": {"app": "checkout"},
                         "creationTimestamp": "2026-11-01T00:00:00Z"},
            "data": data}


def secret(name: str, ns: str, data: dict[str, str], time: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": ns, "uid": f"uid-s-{name}", "labels": {"app": "checkout"},
                         "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "v1",
                                            "time": time, "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {}}}]},
            "data": data}


def pod(name: str, ns: str, app: str, *, restarts: int = 0, oom: bool = False, crashloop: bool = False,
        unschedulable: bool = False, template_hash: str = "6d4cf56db6",
        created: str = "2026-11-29T02:00:00Z") -> dict[str, Any]:
    cs: dict[str, Any] = {"name": "app", "image": f"registry.example/{app}:15", "imageID": "", "ready": not oom,
                          "restartCount": restarts, "started": True,
                          "state": {"running": {"startedAt": "2026-11-29T03:00:00Z"}}, "lastState": {}}
    if oom:
        cs["lastState"] = {"terminated": {"exitCode": 137, "reason": "OOMKilled",
                                          "startedAt": "2026-11-29T03:01:00Z", "finishedAt": "2026-11-29T03:02:10Z"}}
    if crashloop:
        cs["state"] = {"waiting": {"reason": "CrashLoopBackOff",
                                   "message": "back-off 40s restarting failed container"}}
    conditions = [{"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-29T02:00:00Z"}]
    status: dict[str, Any] = {"phase": "Running", "startTime": "2026-11-29T02:00:00Z", "containerStatuses": [cs],
                              "conditions": conditions}
    if unschedulable:
        status = {"phase": "Pending", "conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/3 nodes are available: 3 Insufficient memory.",
            "lastTransitionTime": "2026-11-29T03:03:00Z"}]}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "uid": f"uid-p-{name}", "creationTimestamp": created,
                         "labels": {"app.kubernetes.io/name": app, "pod-template-hash": template_hash},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                              "name": f"{app}-{template_hash}", "uid": f"rs-{template_hash}",
                                              "controller": True}]},
            "spec": {"containers": [{"name": "app", "image": f"registry.example/{app}:15"}], "nodeName": "node-1"},
            "status": status}


def node(name: str, ready: bool, when: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "uid": f"uid-n-{name}", "labels": {"kubernetes.io/hostname": name}},
            "spec": {"podCIDR": "10.244.0.0/24"},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "Unknown",
                                       "reason": "KubeletReady" if ready else "NodeStatusUnknown",
                                       "message": "", "lastHeartbeatTime": when, "lastTransitionTime": when}]}}


def hpa(name: str, ns: str, desired: int, when: str) -> dict[str, Any]:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": ns, "uid": f"uid-h-{name}"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                     "minReplicas": 2, "maxReplicas": 20,
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                         "type": "Utilization", "averageUtilization": 70}}}]},
            "status": {"currentReplicas": desired, "desiredReplicas": desired, "lastScaleTime": when}}


def rollout_step(dep: dict[str, Any], *, revision: int | None = None, observed: int | None = None,
                 updated: int, available: int, total: int, reason: str, when: str,
                 progressing: str = "True", message: str = "") -> dict[str, Any]:
    """``dep`` as the deployment controller writes it during a rolling update: counts and the
    Progressing condition (ReplicaSetUpdated, NewReplicaSetAvailable, ProgressDeadlineExceeded)."""
    out = copy.deepcopy(dep)
    if revision is not None:
        out["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = str(revision)
    gen = out["metadata"]["generation"]
    want = out["spec"]["replicas"]
    out["status"] = {
        "observedGeneration": gen if observed is None else observed, "replicas": total,
        "updatedReplicas": updated, "readyReplicas": available, "availableReplicas": available,
        **({"unavailableReplicas": total - available} if total > available else {}),
        "conditions": [
            {"type": "Available", "status": "True" if available >= want - 1 else "False",
             "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability.",
             "lastUpdateTime": "2026-11-29T02:00:00Z", "lastTransitionTime": "2026-11-29T02:00:00Z"},
            {"type": "Progressing", "status": progressing, "reason": reason,
             "message": message or f'ReplicaSet "{out["metadata"]["name"]}-7f9c6b8d4" is progressing.',
             "lastUpdateTime": when, "lastTransitionTime": when}]}
    return out


def statefulset(name: str, ns: str, image: str, *, generation: int, update_rev: str, current_rev: str,
                updated: int, ready: int, replicas: int = 3) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": ns, "uid": f"uid-ss-{name}", "generation": generation,
                     "labels": {"app.kubernetes.io/name": name}, "creationTimestamp": "2026-11-01T00:00:00Z"},
        "spec": {"replicas": replicas, "serviceName": name, "podManagementPolicy": "OrderedReady",
                 "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                 "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                 "template": {"metadata": {"labels": {"app.kubernetes.io/name": name}},
                              "spec": {"containers": [{"name": "db", "image": image}]}}},
        "status": {"observedGeneration": generation, "replicas": replicas, "readyReplicas": ready,
                   "currentReplicas": replicas - updated if update_rev != current_rev else replicas,
                   "updatedReplicas": updated, "availableReplicas": ready,
                   "currentRevision": current_rev, "updateRevision": update_rev, "collisionCount": 0},
    }


def daemonset(name: str, ns: str, image: str, *, generation: int, desired: int, updated: int,
              available: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": ns, "uid": f"uid-ds-{name}", "generation": generation,
                     "labels": {"app.kubernetes.io/name": name}, "creationTimestamp": "2026-11-01T00:00:00Z"},
        "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                 "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                 "template": {"metadata": {"labels": {"app.kubernetes.io/name": name}},
                              "spec": {"containers": [{"name": "agent", "image": image}]}}},
        "status": {"observedGeneration": generation, "currentNumberScheduled": desired, "numberMisscheduled": 0,
                   "desiredNumberScheduled": desired, "numberReady": available, "numberAvailable": available,
                   "updatedNumberScheduled": updated,
                   **({"numberUnavailable": desired - available} if desired > available else {})},
    }
