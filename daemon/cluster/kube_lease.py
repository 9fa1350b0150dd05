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
import math
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["KubernetesLeaseLeader", "lease_lock"]

log = logging.getLogger("whatchanged.cluster.lease")

LockFactory = Callable[[], Awaitable[Any]]


def _create_fixed(lease_lock_cls: Any) -> Any:
    """``LeaseLock`` whose ``create`` works with kubernetes 37.0.2's asyncio client.

    Upstream's ``LeaseLock.create`` passes ``pretty=True``; the generated aio API
    validates ``pretty`` as a string and raises a pydantic ValidationError, so the
    Lease could never be created (tests/cluster/test_lease_api.py shows it).
    """

    class FixedLeaseLock(lease_lock_cls):  # type: ignore[misc]
        async def create(self, name: str, namespace: str, election_record: Any) -> bool:
            from kubernetes.aio import client
            from kubernetes.aio.client.exceptions import ApiException

            body = client.V1Lease(metadata=client.V1ObjectMeta(name=name),
                                  spec=self.update_lease(election_record))
            try:
                await self.api_instance.create_namespaced_lease(namespace, body)
                return True
            except ApiException as e:
                log.warning("cannot create Lease %s/%s: %s %s", namespace, name, e.status, e.reason)
                return False

    return FixedLeaseLock


def lease_lock(name: str, namespace: str, identity: str, configuration: Any = None) -> LockFactory:
    """A factory of one ``LeaseLock``, made on first use and reused by every campaign.

    ``configuration`` is a ``kubernetes.aio.client.Configuration``; None means the
    in-cluster API server with the pod's service account token.
    """
    made: list[Any] = []

    async def make() -> Any:
        if not made:
            from kubernetes.aio import config as kconfig
            from kubernetes.aio.client import Configuration
            from kubernetes.aio.client.api_client import ApiClient
            from kubernetes.aio.leaderelection.resourcelock.leaselock import LeaseLock

            cfg = configuration
            if cfg is None:
                cfg = Configuration()
                kconfig.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
            made.append(_create_fixed(LeaseLock)(name, namespace, identity, ApiClient(cfg)))
        return made[0]

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
        # A Lease counts whole seconds (leaseDurationSeconds); LeaseLock parses the record's duration with int().
        self.lease_duration = math.ceil(lease_duration)
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
            except Exception as e:
                log.warning("lease campaign failed: %s: %s", type(e).__name__, e)
            finally:
                leading.clear()
            await asyncio.sleep(self.retry_period)
