"""Backtest: replay a past window from Prometheus and the stored change log through the core.

Dependency health comes from the config's ``health_queries`` over the same window (stored
health transitions are the live daemon's own conclusions and are not replayed).

``whatchanged replay --prometheus URL --from T1 --to T2 --config FILE`` prints what would
have paged, as the same JSON document as a scenario replay, so users can tune on their own
history before trusting the pager.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from correlators.types import Change, Topology

from ..config import Config
from ..config.domain import topology_of
from ..core.engine import Engine, detection_factories
from ..core.events import Event, batched
from ..core.policy import policy
from ..core.replay import replay
from ..sources.base import SourceStatus
from ..sources.prometheus import PrometheusSource
from ..store import Store

__all__ = ["Backtest", "backtest"]

log = logging.getLogger("whatchanged.backtest")

CHANGE_LEAD = 6 * 3600.0
"""Changes this long before the window still count as candidates for anomalies early in it."""


@dataclass(frozen=True)
class Backtest:
    """A window of history shaped like a scenario for :func:`~daemon.core.replay.replay`."""

    name: str
    step: float
    topology: Topology
    samples: Sequence[Event]
    changes: Sequence[Change]

    def events(self) -> Iterator[Event]:
        """Changes before samples at equal timestamps, as in a scenario; each query's result per step
        as one batch, as the live source hands it over."""
        changes = sorted(self.changes, key=lambda c: c.ts)
        yield from batched(ev for _, _, _, ev in heapq.merge(
            ((c.ts, 0, i, c) for i, c in enumerate(changes)),
            ((s.ts, 1, i, s) for i, s in enumerate(self.samples)),
            key=lambda t: (t[0], t[1], t[2])))


async def backtest(cfg: Config, start: float, end: float, *, url: str | None = None,
                   client: Any = None, history_until: float | None = None) -> dict[str, Any]:
    """Fetch ``[start, end]`` from Prometheus and the change log from the store; replay it.

    ``history_until``: samples before it are history, as the live daemon's catch-up at start-up
    reads them (recorded, and only what is still open at that head pages), so that a backtest of
    a live run's window gives the live run's pages."""
    if cfg.prometheus is None:
        raise ValueError("the config has no prometheus section (give --prometheus URL or prometheus.url)")
    pcfg = cfg.prometheus if url is None else cfg.prometheus.model_copy(update={"url": url})
    source = PrometheusSource(pcfg, cfg.all_signals(), SourceStatus("backtest"), health=cfg.health_queries,
                              client=client)
    events = await source.fetch(start, end)
    store = await Store.open(cfg.store.url)
    try:
        changes = await store.changes.find(since=start - CHANGE_LEAD, until=end, limit=100_000)
    finally:
        await store.close()
    log.info("backtest %s..%s: %d events from %s, %d changes from the store", start, end, len(events), pcfg.url,
             len(changes))
    bt = Backtest(f"backtest {pcfg.url}", pcfg.step, topology_of(cfg), events, changes)
    # As the daemon would run with this config: its grouping and its detectors.
    detector, bank = detection_factories(cfg.detection.seasonal, cfg.detection.vectorised)
    pol = policy(cfg, bt.step)
    engine = Engine(bt.topology, grouping=pol.grouping, ranking=pol.ranking,
                    detector_factory=detector, bank_factory=bank)
    if history_until is not None:
        engine.history_until = history_until
    return replay(bt, engine)
