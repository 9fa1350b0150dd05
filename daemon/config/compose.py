"""The composition root: everything the daemon runs with, built from a :class:`~daemon.config.Config`.

The one module that imports every room: config models in, a wired :class:`~daemon.runtime.daemon.Daemon`
(store, sources, notifiers, routing, cluster node, policies, HTTP app) out. ``run`` and ``demo`` start
here; the backtest reads the same mappings (:func:`topology_of`, :func:`daemon.core.policy.policy`)
from :mod:`daemon.config.domain`, so that what it replays is what ``run`` would have run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from pathlib import Path

from correlators.types import Topology

from ..api.app import create_app
from ..api.webhooks import WebhookSettings
from ..cluster.build import build_node
from ..cluster.node import ClusterNode
from ..confirm.build import build_confirm
from ..confirm.live import LiveConfirm
from ..confirm.runner import ConfirmRunner
from ..confirm.source import AsyncSeries, SeriesConfirmSource
from ..core.guard import TimeWindow
from ..core.intake import IntakeLimits
from ..core.policy import policy, step_of
from ..demo.source import DemoSource, demo_shop, prepare_store
from ..notify.console import ConsoleNotifier
from ..notify.factory import build_notifiers, build_router
from ..runtime.daemon import Daemon
from ..sources.base import SourceStatus
from ..sources.factory import build_sources
from ..store import Store, StoreError
from .domain import api_tokens_of, topology_of
from .models import Config

__all__ = ["build_cluster", "build_daemon", "run_demo", "run_from_config", "serve"]

log = logging.getLogger("whatchanged.daemon")
demo_log = logging.getLogger("whatchanged.demo")


def build_daemon(cfg: Config, store: Store, cluster: ClusterNode | None = None) -> Daemon:
    """The daemon a config describes, on an open ``store`` (and ``cluster``: :func:`build_cluster`)."""
    sources, statuses = build_sources(cfg, store)
    step = step_of(cfg)
    return Daemon(cluster=cluster, store=store, topology=topology_of(cfg), sources=sources,
                  notifiers=build_notifiers(cfg, store.refs), statuses=statuses, step=step,
                  base_url=cfg.base_url or f"http://{cfg.listen}", policy=policy(cfg, step),
                  retention=cfg.store.retention, api_tokens=api_tokens_of(cfg),
                  webhooks=WebhookSettings.from_config(cfg.webhooks),
                  checkpoint_every=cfg.cluster.checkpoint if cfg.cluster is not None else 60.0,
                  router=build_router(cfg), delivery=cfg.delivery, vectorised=cfg.detection.vectorised,
                  seasonal=cfg.detection.seasonal,
                  time_window=TimeWindow(cfg.intake.max_age, cfg.intake.max_future),
                  intake=IntakeLimits(cfg.intake.rate, float(cfg.intake.burst), cfg.intake.max_pending),
                  reorder_within=cfg.intake.reorder_within,
                  confirm=build_confirm(cfg, sources, topology_of(cfg)))


def build_cluster(cfg: Config, store: Store) -> ClusterNode | None:
    """This replica's cluster node, or None when the config runs one node; ValueError for bad settings."""
    return build_node(cfg.cluster, cfg.store, store, address=cfg.listen) if cfg.cluster is not None else None


async def serve(daemon: Daemon, host: str, port: int) -> int:
    """Run ``daemon`` with its HTTP API on ``host:port`` until SIGINT/SIGTERM."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, daemon.stop)
    try:
        await daemon.run(host=host, port=port, app=create_app(daemon))
    except OSError as e:
        log.error("cannot listen on %s:%d: %s (pick another with --listen HOST:PORT)", host, port, e.strerror)
        return 1
    return 0


async def run_from_config(cfg: Config) -> int:
    """``whatchanged run``: open the store, build the daemon, serve until stopped."""
    try:
        store = await Store.open(cfg.store.url)
    except StoreError as e:
        log.error("%s (check store.url)", e)
        return 1
    try:
        try:
            cluster = build_cluster(cfg, store)
        except ValueError as e:
            log.error("bad cluster settings: %s", e)
            return 2
        daemon = build_daemon(cfg, store, cluster)
        host, port = cfg.host_port
        return await serve(daemon, host, port)
    finally:
        await store.close()


async def run_demo(*, listen: str, db: str, seed: int, step: float, every: float, first_after: float,
                   backfill: float = 3600.0, fresh: bool = False) -> int:
    """``whatchanged demo``: the daemon on the simulated shop, a SQLite store and the console notifier."""
    path = Path(db)
    now = time.time()
    kept = prepare_store(path, fresh=fresh)
    # a kept store already holds the changes of earlier runs: this run's get ids of their own
    shop = demo_shop(now, seed=seed, step=step, every=every, first_after=first_after, backfill=backfill,
                     run=f"run-{int(now)}:" if kept else "")
    topology = Topology.from_services(shop.topology())
    store = await Store.open(f"sqlite+aiosqlite:///{path}")
    host, _, port = listen.rpartition(":")
    status = SourceStatus("demo", stale_after=10 * step)
    try:
        series = SeriesConfirmSource([], step)  # the shop's old and new pods, for the confirm tests
        confirm = LiveConfirm(ConfirmRunner(None, topology, step), AsyncSeries(series), step=step)
        daemon = Daemon(store=store, topology=topology, sources=[DemoSource(shop, status, labelled=series)],
                        notifiers={"console": ConsoleNotifier()}, statuses=[status], step=step,
                        policy=policy(None, step), base_url=f"http://{listen}", confirm=confirm)
        demo_log.info("demo: %d services, first incident in about %.0fs, then every %.0fs; watch it at http://%s/incidents",
                 len(topology.services), first_after, every, listen)
        return await serve(daemon, host.strip("[]"), int(port))
    finally:
        await store.close()
