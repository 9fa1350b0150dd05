"""Daemons to kill -9, forked from a warm parent: ``python -m tests.resilience.kill_child``.

Importing the daemon takes seconds on a loaded 2-core machine; a kill sweep starts two
daemons a round. This "zygote" imports everything once, then reads one line per daemon on
stdin, ``DB PORT RECEIVERS_URL``, forks a child that runs the daemon (HTTP API on PORT, a
SQLite store at DB, paging the signed webhook ``RECEIVERS_URL/hook`` and the PagerDuty-shaped
``RECEIVERS_URL/v2/enqueue``), and prints the child's pid. The test kills children by pid;
children are reaped by the zygote (SIGCHLD ignored). EOF on stdin ends the zygote.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from daemon.api.app import create_app
from daemon.config import DeliveryConfig
from daemon.notify.pagerduty import PagerDutyNotifier
from daemon.notify.types import Notifier
from daemon.notify.webhook import WebhookNotifier
from daemon.runtime.daemon import Daemon
from daemon.store import Store
from tests.daemon.helpers import SHOP
from tests.daemon.receivers import ROUTING_KEY

SECRET = b"s3cret"


async def run_daemon(db: str, port: int, base: str) -> None:
    store = await Store.open(f"sqlite+aiosqlite:///{db}")
    notifiers: dict[str, Notifier] = {"hook": WebhookNotifier("hook", f"{base}/hook", secret=SECRET, timeout=2.0),
                 "pd": PagerDutyNotifier("pd", ROUTING_KEY, url=base, timeout=2.0)}
    d = Daemon(store=store, topology=SHOP, sources=[], notifiers=notifiers, step=30.0, checkpoint_every=3600,
               delivery=DeliveryConfig(send_timeout=2.0, backoff_base=0.2, resolve_hold=0.0))
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, d.stop)
    try:
        await d.run(host="127.0.0.1", port=port, app=create_app(d))
    finally:
        await store.close()


def child(db: str, port: int, base: str) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    log = open(db + ".log", "a", buffering=1)
    os.dup2(log.fileno(), 2)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s",
                        force=True)
    try:
        asyncio.run(run_daemon(db, port, base))
    except BaseException:
        logging.getLogger("kill_child").exception("daemon failed")
        os._exit(1)
    os._exit(0)


def main() -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically
    print("ready", flush=True)
    for line in sys.stdin:
        db, port, base = line.split()
        pid = os.fork()
        if pid == 0:
            child(db, int(port), base)
        print(pid, flush=True)


if __name__ == "__main__":
    main()
