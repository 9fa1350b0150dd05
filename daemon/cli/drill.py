"""``whatchanged drill``: a marked drill page through the real outbox to every receiver, each delivery reported."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

__all__ = ["add_parser"]


async def _main(args: argparse.Namespace) -> int:
    from ..config import load_config_or_report
    from ..notify.drill import run_drill
    from ..notify.factory import build_notifiers, build_retry
    from ..store import Store
    cfg = load_config_or_report(args.config)
    if cfg is None:
        return 2
    store = await Store.open(cfg.store.url)
    try:
        notifiers = build_notifiers(cfg, store.refs)
        if args.receiver:
            missing = [r for r in args.receiver if r not in notifiers]
            if missing:
                print(f"whatchanged: no notifier named {', '.join(missing)}", file=sys.stderr)
                return 2
            notifiers = {k: v for k, v in notifiers.items() if k in args.receiver}
        results = await run_drill(store, notifiers, timeout=args.timeout, resolve=not args.no_resolve,
                                  base_url=cfg.base_url, retry=build_retry(cfg.delivery),
                                  send_timeout=cfg.delivery.send_timeout)
    finally:
        await store.close()
    for r in results:
        print(r.line())
    failed = [r for r in results if r.status != "sent"]
    print(f"drill: {len(results) - len(failed)} of {len(results)} deliveries accepted")
    return 1 if failed else 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("drill", help="send a marked drill page to every receiver and report each delivery",
                       description="Send a clearly marked drill page through the real outbox (retries, circuit "
                                   "breaker, record) to every configured receiver, resolve it, and report each "
                                   "delivery. Exit 1 if any receiver did not accept it.")
    p.add_argument("--config", required=True, metavar="FILE", help="YAML config (see docs/paging.md)")
    p.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                   help="give up on a receiver after this long (default 60)")
    p.add_argument("--receiver", action="append", metavar="NAME", help="only this receiver (repeatable)")
    p.add_argument("--no-resolve", action="store_true", help="leave the drill page open")
    p.set_defaults(func=lambda a: asyncio.run(_main(a)))
