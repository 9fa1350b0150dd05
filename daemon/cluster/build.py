"""Build this replica's :class:`ClusterNode` from the config (reads the environment at start only)."""

from __future__ import annotations

import os
import socket

from ..config import ClusterConfig, StoreConfig
from ..store import Store
from .leader import LeaderElector, PostgresAdvisoryLeader
from .node import ClusterNode

__all__ = ["build_node"]


def build_elector(cfg: ClusterConfig, store: StoreConfig, identity: str) -> LeaderElector:
    if cfg.leader == "postgres":
        return PostgresAdvisoryLeader(store.url)
    from .kube_lease import KubernetesLeaseLeader, lease_lock
    lease = cfg.lease
    namespace = lease.namespace or os.environ.get(lease.namespace_env)
    if not namespace:
        raise ValueError(f"cluster.lease.namespace: not set, and neither is ${lease.namespace_env}")
    name = os.environ.get(lease.identity_env) or identity
    return KubernetesLeaseLeader(lease_lock(lease.name, namespace, name),
                                 lease_duration=lease.duration, renew_deadline=lease.renew_deadline,
                                 retry_period=lease.retry_period)


def build_node(cfg: ClusterConfig, store_cfg: StoreConfig, store: Store, address: str = "") -> ClusterNode:
    """Raises ValueError naming the setting at fault."""
    member = str(cfg.resolve_index())
    identity = f"{socket.gethostname()}-{member}"
    return ClusterNode(store, member=member, elector=build_elector(cfg, store_cfg, identity),
                       heartbeat=cfg.heartbeat, member_ttl=cfg.member_ttl, address=address)
