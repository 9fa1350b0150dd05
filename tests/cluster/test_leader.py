"""Leader election: the PostgreSQL advisory lock on a real server, and the Lease adapter on kubernetes.aio."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from daemon.cluster.kube_lease import KubernetesLeaseLeader
from daemon.cluster.leader import LeaderElector, PostgresAdvisoryLeader


async def _until(cond, timeout: float) -> float:  # type: ignore[no-untyped-def]
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)
    return time.monotonic() - t0


async def test_postgres_one_leader_and_takeover(pg_url: str) -> None:
    conns: list[object] = []

    def elector() -> PostgresAdvisoryLeader:
        import asyncpg

        from daemon.cluster.leader import asyncpg_dsn

        async def connect() -> object:
            c = await asyncpg.connect(asyncpg_dsn(pg_url))
            conns.append(c)
            return c
        return PostgresAdvisoryLeader(pg_url, retry=0.2, check_every=0.2, connect=connect)

    a, b = elector(), elector()
    assert isinstance(a, LeaderElector)
    ea, eb = asyncio.Event(), asyncio.Event()
    ta = asyncio.create_task(a.campaign(ea))
    await _until(ea.is_set, 5)
    tb = asyncio.create_task(b.campaign(eb))
    await asyncio.sleep(1.0)
    assert ea.is_set() and not eb.is_set()
    # The leader's session dies (as when its process is killed): it steps down, the other leads.
    holder = conns[0]
    import asyncpg
    admin = await asyncpg.connect(pg_url.replace("postgresql+asyncpg", "postgresql"))
    await admin.execute("SELECT pg_terminate_backend($1)", holder.get_server_pid())  # type: ignore[attr-defined]
    await admin.close()
    await _until(lambda: not ea.is_set(), 3)
    took = await _until(eb.is_set, 3)
    assert took < 3
    await asyncio.sleep(0.6)
    assert not (ea.is_set() and eb.is_set())
    for t in (ta, tb):
        t.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await t


class MemoryLock:
    """A BaseLock over a dict, shared by candidates as the API server's Lease would be."""

    def __init__(self, shared: dict[str, object], identity: str) -> None:
        from kubernetes.aio.leaderelection.resourcelock.baselock import BaseLock  # noqa: F401 - interface
        self.name, self.namespace, self.identity = "whatchanged-leader", "ns", identity
        self.shared = shared

    async def get(self, name: str, namespace: str):  # type: ignore[no-untyped-def]
        if self.shared.get("down"):
            return False, RuntimeError("API server unreachable")
        rec = self.shared.get("record")
        if rec is None:
            from kubernetes.aio.client.exceptions import ApiException
            e = ApiException(status=404, reason="Not Found")
            e.body = '{"code": 404}'
            return False, e
        return True, rec

    async def create(self, name: str, namespace: str, election_record) -> bool:  # type: ignore[no-untyped-def]
        if "record" in self.shared:
            return False
        self.shared["record"] = election_record
        return True

    async def update(self, name: str, namespace: str, updated_record) -> bool:  # type: ignore[no-untyped-def]
        if self.shared.get("down"):
            return False
        self.shared["record"] = updated_record
        return True


async def test_lease_leader_steps_down_when_renewal_fails() -> None:
    shared: dict[str, object] = {}

    def leader(identity: str) -> KubernetesLeaseLeader:
        async def make() -> MemoryLock:
            return MemoryLock(shared, identity)
        return KubernetesLeaseLeader(make, lease_duration=3.0, renew_deadline=2.0, retry_period=1.0)

    ea, eb = asyncio.Event(), asyncio.Event()
    ta = asyncio.create_task(leader("a").campaign(ea))
    await _until(ea.is_set, 3)
    tb = asyncio.create_task(leader("b").campaign(eb))
    await asyncio.sleep(2.5)
    assert ea.is_set() and not eb.is_set(), "b waits while a renews"
    shared["down"] = True  # nobody can renew: the leader must stop within renew_deadline (+ a period)
    lost = await _until(lambda: not ea.is_set(), 5)
    assert lost <= 3.5 and not eb.is_set()
    shared["down"] = False
    await _until(lambda: ea.is_set() or eb.is_set(), 8)
    await asyncio.sleep(0.5)
    assert ea.is_set() != eb.is_set()
    for t in (ta, tb):
        t.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await t


def test_lease_timing_is_validated() -> None:
    from daemon.config import ConfigError, parse_config
    with pytest.raises(ConfigError, match="renew_deadline"):
        parse_config({"cluster": {"leader": "kubernetes", "lease": {"duration": "5s", "renew_deadline": "6s"}}})
