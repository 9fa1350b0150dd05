"""Scale-out: series sharded over live replicas, one elected leader groups, ranks and pages."""

from .leader import LeaderElector, PostgresAdvisoryLeader
from .sharding import Shard, owner

__all__ = ["LeaderElector", "PostgresAdvisoryLeader", "Shard", "owner"]
