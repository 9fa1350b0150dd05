"""Scale-out: series sharded over live replicas, one elected leader groups, ranks and pages.

A room of its own beside the runtime: the runtime's ``Clustered`` mode drives a
:class:`daemon.cluster.node.ClusterNode`. The cluster may import the core and the store; the
Kubernetes lease client and asyncpg load only when configured (:mod:`daemon.cluster.build`).
"""

from .leader import LeaderElector, PostgresAdvisoryLeader
from .sharding import Shard, owner

__all__ = ["LeaderElector", "PostgresAdvisoryLeader", "Shard", "owner"]
