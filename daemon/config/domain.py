"""Config to domain: the topology and the API tokens a config describes (pure mappings, no I/O).

The composition root and the backtest both read these, so that a backtest replays with what ``run``
would have run; the policies come from the one builder, :func:`daemon.core.policy.policy`.
"""

from __future__ import annotations

from correlators.types import ServiceInfo, Topology

from ..api.auth import ApiTokens
from .models import Config

__all__ = ["api_tokens_of", "topology_of"]


def api_tokens_of(cfg: Config) -> ApiTokens:
    """The read and write tokens of ``api`` (secrets resolved)."""
    return ApiTokens.of([t.resolve().get_secret_value() for t in cfg.api.read_tokens],
                        [t.resolve().get_secret_value() for t in cfg.api.write_tokens])


def topology_of(cfg: Config) -> Topology:
    """The services of the config, with whom they call and depend on."""
    return Topology.from_services([ServiceInfo(s.name, s.namespace, tuple(s.calls), tuple(s.dependencies))
                                   for s in cfg.services])
