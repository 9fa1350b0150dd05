"""Leader election through a Kubernetes ``coordination.k8s.io/v1`` Lease (``kubernetes.aio``).

Wraps ``kubernetes.aio.leaderelection.LeaderElection`` as a
:class:`~daemon.cluster.leader.LeaderElector`. The upstream loop stops renewing
(and calls back) when it failed to renew within ``renew_deadline``, which is
shorter than ``lease_duration``: the old leader stops paging before any other
replica can take the Lease.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["KubernetesLeaseLeader", "in_cluster_lease_lock"]

log = logging.getLogger("whatchanged.cluster.lease")

LockFactory = Callable[[], Awaitable[Any]]


def in_cluster_lease_lock(name: str, namespace: str, identity: str) -> LockFactory:
    """A factory of ``LeaseLock`` on the in-cluster API server (service account token of the pod)."""

    async def make() -> Any:
        from kubernetes.aio import config as kconfig
        from kubernetes.aio.client.api_client import ApiClient
        from kubernetes.aio.leaderelection.resourcelock.leaselock import LeaseLock

        kconfig.load_incluster_config()  # type: ignore[no-untyped-call]
        return LeaseLock(name, namespace, identity, ApiClient())

    return make


class KubernetesLeaseLeader:
    """Hold a Lease while leading; re-campaign after every loss.

    Parameters
    ----------
    lock
        Makes the resource lock (``LeaseLock`` in a pod; any ``BaseLock`` in tests).
    lease_duration, renew_deadline, retry_period
        As in client-go: candidates wait ``lease_duration`` after the last renewal
        before taking over; the leader gives up after failing to renew for
        ``renew_deadline``; everyone retries every ``retry_period``.
    """

    def __init__(self, lock: LockFactory, *, lease_duration: float = 15.0, renew_deadline: float = 10.0,
                 retry_period: float = 2.0) -> None:
        self.lock = lock
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period

    async def campaign(self, leading: asyncio.Event) -> None:
        from kubernetes.aio.leaderelection.electionconfig import Config
        from kubernetes.aio.leaderelection.leaderelection import LeaderElection

        async def started() -> None:
            leading.set()
            log.info("leadership acquired (Lease)")
            await asyncio.Event().wait()  # cancelled by LeaderElection when renewal fails

        async def stopped() -> None:
            leading.clear()
            log.warning("leadership lost: the Lease could not be renewed")

        while True:
            try:
                lock = await self.lock()
                election = LeaderElection(Config(lock, self.lease_duration, self.renew_deadline,
                                                 self.retry_period, started, stopped))
                await election.run()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - the API server may be unreachable: not leading
                log.warning("lease campaign failed: %s: %s", type(e).__name__, e)
            finally:
                leading.clear()
            await asyncio.sleep(self.retry_period)
