"""The Lease leader through kubernetes.aio's real LeaseLock and API client, against a loopback stand-in for the
API server's ``coordination.k8s.io/v1`` Lease endpoints (get, create, replace with optimistic concurrency).
No Kubernetes API server runs on this machine; this checks the wire path (paths, bodies, 404/409 handling)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from typing import Any

from aiohttp import web

from daemon.cluster.kube_lease import KubernetesLeaseLeader, lease_lock

BASE = "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"


class LeaseAPI:
    def __init__(self) -> None:
        self.leases: dict[tuple[str, str], dict[str, Any]] = {}
        self.version = 0
        self.down = False
        self.holders: list[str] = []

    def _status(self, code: int, reason: str) -> web.Response:
        return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason,
                                  "code": code}, status=code)

    async def get(self, request: web.Request) -> web.Response:
        if self.down:
            return self._status(503, "ServiceUnavailable")
        lease = self.leases.get((request.match_info["ns"], request.match_info["name"]))
        return web.json_response(lease) if lease else self._status(404, "NotFound")

    async def create(self, request: web.Request) -> web.Response:
        if self.down:
            return self._status(503, "ServiceUnavailable")
        body = await request.json()
        key = (request.match_info["ns"], body["metadata"]["name"])
        if key in self.leases:
            return self._status(409, "AlreadyExists")
        self.version += 1
        body["metadata"].update(namespace=key[0], resourceVersion=str(self.version))
        body.update(apiVersion="coordination.k8s.io/v1", kind="Lease")
        self.leases[key] = body
        self.holders.append(body["spec"]["holderIdentity"])
        return web.json_response(body, status=201)

    async def replace(self, request: web.Request) -> web.Response:
        if self.down:
            return self._status(503, "ServiceUnavailable")
        body = await request.json()
        key = (request.match_info["ns"], request.match_info["name"])
        cur = self.leases.get(key)
        if cur is None:
            return self._status(404, "NotFound")
        if body["metadata"].get("resourceVersion") != cur["metadata"]["resourceVersion"]:
            return self._status(409, "Conflict")
        self.version += 1
        body["metadata"]["resourceVersion"] = str(self.version)
        self.leases[key] = body
        if self.holders[-1] != body["spec"]["holderIdentity"]:
            self.holders.append(body["spec"]["holderIdentity"])
        return web.json_response(body)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _until(cond: Any, timeout: float) -> float:
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, "condition not reached in time"
        await asyncio.sleep(0.05)
    return time.monotonic() - t0


async def test_lease_election_over_http() -> None:
    from kubernetes.aio.client import Configuration

    api = LeaseAPI()
    app = web.Application()
    app.router.add_get(BASE + "/{name}", api.get)
    app.router.add_post(BASE, api.create)
    app.router.add_put(BASE + "/{name}", api.replace)
    runner = web.AppRunner(app)
    await runner.setup()
    port = _port()
    await web.TCPSite(runner, "127.0.0.1", port).start()

    def candidate(identity: str) -> KubernetesLeaseLeader:
        cfg = Configuration(host=f"http://127.0.0.1:{port}")
        return KubernetesLeaseLeader(lease_lock("wc-leader", "obs", identity, cfg), lease_duration=3.0,
                                     renew_deadline=2.0, retry_period=1.0)

    ea, eb = asyncio.Event(), asyncio.Event()
    tasks = [asyncio.create_task(candidate("pod-0").campaign(ea))]
    try:
        await _until(ea.is_set, 5)
        tasks.append(asyncio.create_task(candidate("pod-1").campaign(eb)))
        await asyncio.sleep(3.5)
        assert ea.is_set() and not eb.is_set()
        lease = api.leases[("obs", "wc-leader")]
        assert lease["spec"]["holderIdentity"] == "pod-0" and lease["spec"]["leaseDurationSeconds"] == 3
        assert int(lease["metadata"]["resourceVersion"]) > 2, "the leader renews"
        api.down = True  # the API server is unreachable: the leader must stop within renew_deadline
        lost = await _until(lambda: not ea.is_set(), 5)
        assert lost <= 3.5
        api.down = False
        await _until(lambda: ea.is_set() or eb.is_set(), 10)
        await asyncio.sleep(1.0)
        assert ea.is_set() != eb.is_set(), "exactly one leader again"
        assert json.dumps(api.holders)  # who held it, in order
    finally:
        for t in tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await runner.cleanup()
