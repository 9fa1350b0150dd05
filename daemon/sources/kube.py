"""Watch a Kubernetes cluster through ``kubernetes.aio`` and yield what changed.

One list-then-watch loop per resource (and namespace, or cluster-wide): resume from the last
resourceVersion, follow bookmarks, re-list on 410 Gone (diffing the list against what was
seen, so nothing that changed meanwhile is missed), back off on errors. The differ's snapshot
and the resourceVersions are checkpointed to the store, so a restart resumes the diff.
Auth: in-cluster service account (token, CA and namespace from its folder, API address from
``KUBERNETES_SERVICE_HOST``/``PORT``; a rotated token is re-read when its file changes), or
a kubeconfig (file and context from the config).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from correlators.types import Change

from ..config import KubernetesConfig
from ..core.events import Event
from ..core.guard import clean_change
from .base import SourceStatus
from .kube_changes import KubeDiffer, Observed

if TYPE_CHECKING:
    from ..confirm.pods import PodIndex

__all__ = ["RESOURCES", "CheckpointStore", "ClusterAccess", "KubernetesSource", "Resource", "TokenFile",
           "connect"]

log = logging.getLogger("whatchanged.kubernetes")

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
CHECKPOINT = "source:kubernetes"


class CheckpointStore(Protocol):
    async def load(self, key: str) -> dict[str, Any] | None: ...

    async def save(self, key: str, state: dict[str, Any], now: float | None = None) -> None: ...


@dataclass(frozen=True)
class Resource:
    """A watched resource: its kind, API class, and list functions (namespaced, cluster-wide)."""

    name: str
    kind: str
    api: str
    namespaced: str | None
    cluster: str


RESOURCES: dict[str, Resource] = {r.name: r for r in (
    Resource("deployments", "Deployment", "AppsV1Api", "list_namespaced_deployment",
             "list_deployment_for_all_namespaces"),
    Resource("statefulsets", "StatefulSet", "AppsV1Api", "list_namespaced_stateful_set",
             "list_stateful_set_for_all_namespaces"),
    Resource("daemonsets", "DaemonSet", "AppsV1Api", "list_namespaced_daemon_set",
             "list_daemon_set_for_all_namespaces"),
    Resource("configmaps", "ConfigMap", "CoreV1Api", "list_namespaced_config_map",
             "list_config_map_for_all_namespaces"),
    Resource("secrets", "Secret", "CoreV1Api", "list_namespaced_secret", "list_secret_for_all_namespaces"),
    Resource("hpas", "HorizontalPodAutoscaler", "AutoscalingV2Api", "list_namespaced_horizontal_pod_autoscaler",
             "list_horizontal_pod_autoscaler_for_all_namespaces"),
    Resource("nodes", "Node", "CoreV1Api", None, "list_node"),
    Resource("pods", "Pod", "CoreV1Api", "list_namespaced_pod", "list_pod_for_all_namespaces"),
    Resource("events", "Event", "CoreV1Api", "list_namespaced_event", "list_event_for_all_namespaces"),
)}


class _Gone(Exception):
    """410: the resourceVersion is too old; list again."""


@dataclass(frozen=True)
class ClusterAccess:
    """Where in-cluster auth looks: the service-account folder (``token``, ``ca.crt``,
    ``namespace``) and the environment holding ``KUBERNETES_SERVICE_HOST``/``PORT``
    (``None``: the process environment, read when connecting)."""

    service_account_dir: Path = SERVICE_ACCOUNT_DIR
    environ: Mapping[str, str] | None = None


class TokenFile:
    """A client's ``refresh_api_key_hook``: re-read the service-account token when kubelet rotates it.

    Projected tokens are rotated by swapping the file; a changed inode, size or mtime means
    a new token, read before the next request. A missing or empty file keeps the last token.
    The check is one ``stat`` of a local file per request.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None

    def __call__(self, conf: Any) -> None:
        try:
            st = os.stat(self.path)
            seen = (st.st_ino, st.st_mtime_ns, st.st_size)
            if seen == self._seen:
                return
            token = self.path.read_text().strip()
        except OSError as e:
            log.warning("cannot read the service account token %s (%s); keeping the last one", self.path, e)
            return
        if token:
            self._seen = seen
            conf.api_key["BearerToken"] = "Bearer " + token
            conf.api_key_prefix.pop("BearerToken", None)


def _in_cluster(cfg: KubernetesConfig, access: ClusterAccess) -> bool:
    if cfg.in_cluster is not None:
        return cfg.in_cluster
    return (access.service_account_dir / "token").exists()


async def connect(cfg: KubernetesConfig, access: ClusterAccess = ClusterAccess()) -> tuple[Any, str]:
    """An ``ApiClient`` configured in-cluster or from a kubeconfig, and the namespace it runs in:
    the service account's ``namespace`` file in-cluster, else the kubeconfig context's (``""``: unknown)."""
    from kubernetes.aio import client, config
    from kubernetes.aio.config.incluster_config import InClusterConfigLoader

    conf = client.Configuration()
    if _in_cluster(cfg, access):
        sa = access.service_account_dir
        environ = dict(access.environ if access.environ is not None else os.environ)
        make_loader: Any = InClusterConfigLoader
        loader = make_loader(token_filename=str(sa / "token"), cert_filename=str(sa / "ca.crt"),
                             try_refresh_token=False, environ=environ)
        loader.load_and_set(client_configuration=conf)
        hooks: Any = conf
        hooks.refresh_api_key_hook = TokenFile(sa / "token")
        ns_file = sa / "namespace"
        namespace = ns_file.read_text().strip() if ns_file.is_file() else ""
        return client.ApiClient(configuration=conf), namespace
    path = str(cfg.kubeconfig) if cfg.kubeconfig else None
    load: Any = config.load_kube_config
    await load(config_file=path, context=cfg.context, client_configuration=conf, persist_config=False)
    namespace = ""
    if cfg.own_namespace:
        listed: Any = config.list_kube_config_contexts
        contexts, active = await asyncio.to_thread(listed, path)
        chosen = next((c for c in contexts if c.get("name") == cfg.context), active) if cfg.context else active
        namespace = str(((chosen or {}).get("context") or {}).get("namespace") or "default")
    return client.ApiClient(configuration=conf), namespace


class KubernetesSource:
    """Yields :class:`Change` records for rollouts, rollbacks, config, scaling, node and pod trouble,
    and a :class:`~daemon.core.events.ChangeStatus` when a recorded rollout completes or fails."""

    def __init__(self, cfg: KubernetesConfig, status: SourceStatus, *, cursor: CheckpointStore | None = None,
                 api_client: Callable[[], Awaitable[Any]] | None = None, clock: Callable[[], float] = time.time,
                 checkpoint_every: float = 5.0, access: ClusterAccess = ClusterAccess()) -> None:
        self.name = "kubernetes"
        self.cfg = cfg
        self.status = status
        self.store = cursor
        self.clock = clock
        self._make_client = api_client
        self.access = access
        self.namespace = ""  # the namespace the daemon runs in, once connected
        self.checkpoint_every = checkpoint_every
        self.differ = KubeDiffer(cfg.service_labels)
        self.versions: dict[str, str] = {}
        self._dirty = False
        self.pods: PodIndex | None = None
        """Told every Pod seen, when confirm tests need to know which pods run which version."""

    # -- checkpoints ---------------------------------------------------------------------
    async def _restore(self) -> None:
        if self.store is None:
            return
        try:
            state = await self.store.load(CHECKPOINT)
        except Exception as e:
            log.warning("cannot load the kubernetes checkpoint (%s); starting from a fresh list", e)
            return
        if state:
            self.differ = KubeDiffer.from_state(state.get("differ"), self.cfg.service_labels)
            self.versions = {str(k): str(v) for k, v in (state.get("versions") or {}).items()}

    async def save(self) -> None:
        if self.store is None or not self._dirty:
            return
        self._dirty = False
        try:
            await self.store.save(CHECKPOINT, {"differ": self.differ.state_dict(),
                                                          "versions": dict(self.versions)}, now=self.clock())
        except Exception as e:
            self._dirty = True
            log.warning("cannot save the kubernetes checkpoint: %s", e)

    # -- one resource -------------------------------------------------------------------
    def _functions(self, client: Any, res: Resource, namespace: str) -> tuple[Any, dict[str, Any]]:
        from kubernetes.aio import client as k8s
        api = getattr(k8s, res.api)(client)
        if namespace and res.namespaced:
            return getattr(api, res.namespaced), {"namespace": namespace}
        return getattr(api, res.cluster), {}

    async def _list(self, client: Any, res: Resource, namespace: str) -> tuple[list[dict[str, Any]], str]:
        fn, kwargs = self._functions(client, res, namespace)
        raw = getattr(fn.__self__, f"{fn.__name__}_without_preload_content")
        items: list[dict[str, Any]] = []
        cont: str | None = None
        while True:
            resp = await raw(**kwargs, limit=500, _continue=cont, _request_timeout=self.cfg.watch_timeout)
            body = await resp.read()
            if resp.status == 410:
                raise _Gone()
            if resp.status != 200:
                from kubernetes.aio.client.exceptions import ApiException
                raise ApiException(status=resp.status, reason=f"list {res.name}: {body[:200]!r}")
            doc = json.loads(body)
            items += doc.get("items") or []
            cont = (doc.get("metadata") or {}).get("continue") or None
            if not cont:
                return items, str((doc.get("metadata") or {}).get("resourceVersion", ""))

    async def _stream(self, client: Any, res: Resource, namespace: str, out: asyncio.Queue[Observed]) -> None:
        from kubernetes.aio import watch
        from kubernetes.aio.client.exceptions import ApiException
        key = f"{res.name}/{namespace or '*'}"
        backoff = 1.0
        while True:
            try:
                rv = self.versions.get(key)
                if not rv:
                    items, rv = await self._list(client, res, namespace)
                    for ch in self.differ.sync(res.kind, items, self.clock(), namespace):
                        await out.put(ch)
                    if self.pods is not None and res.kind == "Pod":
                        for item in items:
                            self.pods.observe("ADDED", item, self.clock())
                    self.versions[key] = rv
                    self._dirty = True
                    self.status.ok(self.clock())
                fn, kwargs = self._functions(client, res, namespace)
                w = watch.Watch(return_type="object")  # type: ignore[no-untyped-call]
                async with w:
                    open_stream: Any = w.stream
                    stream = open_stream(fn, **kwargs, resource_version=rv, allow_watch_bookmarks=True,
                                         timeout_seconds=int(self.cfg.watch_timeout),
                                         _request_timeout=self.cfg.watch_timeout + 30)
                    async for ev in stream:
                        kind = ev["type"]
                        if kind != "BOOKMARK":
                            for ch in self.differ.observe(res.kind, kind, ev["raw_object"], self.clock()):
                                await out.put(ch)
                            if self.pods is not None and res.kind == "Pod":
                                self.pods.observe(kind, ev["raw_object"], self.clock())
                        if w.resource_version:
                            self.versions[key] = str(w.resource_version)
                        self._dirty = True
                        self.status.ok(self.clock())
                self.status.ok(self.clock())  # a watch that ended by its timeout: watch again from rv
                backoff = 1.0
            except asyncio.CancelledError:
                raise
            except (_Gone, ApiException) as e:
                if isinstance(e, _Gone) or getattr(e, "status", None) == 410:
                    log.info("kubernetes %s: resourceVersion expired (410 Gone); listing again", key)
                    self.versions.pop(key, None)
                    continue
                await self._failed(key, f"HTTP {e.status}: {e.reason}", backoff)
                backoff = min(backoff * 2, 60.0)
            except Exception as e:
                await self._failed(key, f"{type(e).__name__}: {e}", backoff)
                backoff = min(backoff * 2, 60.0)

    async def _failed(self, key: str, message: str, backoff: float) -> None:
        self.status.error(f"{key}: {message}"[:300])
        delay = backoff * random.uniform(0.8, 1.2)
        log.warning("kubernetes %s failed (%s); retrying in %.1fs", key, message[:200], delay)
        await asyncio.sleep(delay)

    # -- the source ------------------------------------------------------------------------
    def _namespaces(self) -> list[str]:
        """The configured namespaces; else the daemon's own with ``own_namespace``; else all (``""``)."""
        if self.cfg.namespaces:
            return list(self.cfg.namespaces)
        if not self.cfg.own_namespace:
            return [""]
        if not self.namespace:
            raise ValueError("kubernetes.own_namespace: the namespace the daemon runs in is unknown (no "
                             f"{self.access.service_account_dir / 'namespace'} file); set kubernetes.namespaces")
        return [self.namespace]

    async def events(self) -> AsyncIterator[Event]:
        await self._restore()
        if self._make_client is not None:
            client = await self._make_client()
        else:
            client, self.namespace = await connect(self.cfg, self.access)
        out: asyncio.Queue[Observed] = asyncio.Queue(maxsize=10_000)
        try:
            namespaces = self._namespaces()
        except ValueError:
            await client.close()
            raise
        tasks = [asyncio.create_task(self._stream(client, RESOURCES[r], ns if RESOURCES[r].namespaced else "", out),
                                     name=f"kubernetes:{r}/{ns or '*'}")
                 for r in self.cfg.watch for ns in (namespaces if RESOURCES[r].namespaced else [""])]
        last_save = self.clock()
        try:
            while True:
                try:
                    async with asyncio.timeout(self.checkpoint_every):
                        ch = await out.get()
                except TimeoutError:
                    ch = None
                if isinstance(ch, Change):
                    try:
                        ch = clean_change(ch)  # names and annotations cleaned and clipped where they enter
                    except ValueError as e:
                        log.warning("kubernetes: a change set aside: %s", e)
                        ch = None
                if ch is not None:
                    yield ch
                if self.clock() - last_save >= self.checkpoint_every or ch is None:
                    await self.save()
                    last_save = self.clock()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.save()
            await client.close()
