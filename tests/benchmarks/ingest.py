"""Ingest: ``POST /api/v1/changes`` and the Alertmanager webhook under load from a second process on loopback.

Usage: .venv/bin/python tests/benchmarks/ingest.py [--requests 3000] [--concurrency 1 16 64]
       [--kind changes alertmanager] [--store URL] [--json]

Starts the daemon in this process (its HTTP API on a free loopback port, write token
required), runs ``loadgen.py`` as a separate process, then checks nothing was dropped: every
request answered 202, and the store holds exactly one row per change sent, and the core
received each change once. Each run gets an empty store: a SQLite file in a temporary folder,
or with ``--store postgresql://USER@HOST:PORT/DB`` a fresh database ``DB_<kind>_c<concurrency>``
created through ``DB`` (which is only connected to) and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from daemon.api.app import create_app
from daemon.api.auth import ApiTokens
from daemon.api.webhooks import WebhookSettings
from daemon.runtime.daemon import Daemon
from daemon.store import Store
from daemon.store import tables as t
from tests.daemon.helpers import SHOP, RecordingNotifier

HERE = Path(__file__).resolve().parent
TOKEN = "bench-write-token"
PATHS = {"changes": "/api/v1/changes", "alertmanager": "/api/v1/webhooks/alertmanager"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def fresh_store(base: str | None, tmp: str, name: str) -> AsyncIterator[str]:
    """The URL of an empty store for one run, removed afterwards (a PostgreSQL database is dropped)."""
    if base is None:
        yield f"sqlite+aiosqlite:///{tmp}/{name}.db"
        return
    import asyncpg
    admin_url = base.replace("postgresql+asyncpg://", "postgresql://", 1)
    prefix, _, db = admin_url.rpartition("/")
    if not admin_url.startswith(("postgresql://", "postgres://")) or not db:
        raise SystemExit(f"--store: expected postgresql://USER@HOST:PORT/DB, not {base!r}")
    fresh = f"{db}_{name}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{fresh}"')
        try:
            yield f"{prefix}/{fresh}"
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')
    finally:
        await admin.close()


async def one_run(store_url: str, requests: int, concurrency: int, kind: str) -> dict[str, Any]:
    store = await Store.open(store_url)
    port = free_port()
    d = Daemon(store=store, topology=SHOP, sources=[], notifiers={"rec": RecordingNotifier()},
               api_tokens=ApiTokens.of(read=[TOKEN], write=[TOKEN]),
               webhooks=WebhookSettings(bearer_tokens=(TOKEN.encode(),)))
    ready = asyncio.Event()
    task = asyncio.create_task(d.run(host="127.0.0.1", port=port, app=create_app(d), ready=ready))
    await asyncio.wait_for(ready.wait(), 30)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "loadgen.py"), f"http://127.0.0.1:{port}{PATHS[kind]}", "--kind", kind,
        "--requests", str(requests), "--concurrency", str(concurrency), "--token", TOKEN, "--timeout", "300",
        stdout=subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 400)
    result: dict[str, Any] = json.loads(out)
    t0 = time.perf_counter()
    while d.queue._unfinished_tasks and time.perf_counter() - t0 < 600:  # the core catches up
        await asyncio.sleep(0.05)
    drained = time.perf_counter() - t0
    t1 = time.perf_counter()
    d.stop()
    await asyncio.wait_for(task, 600)
    stopped = time.perf_counter() - t1
    if kind == "changes":
        stored = len(await store.changes.find(limit=requests + 10))
        in_core = len(d.engine.log.ids)
    else:  # each distinct firing alert reached the core once and is an anomaly row of a stored incident
        in_core = int(d.metrics.alerts.labels("firing")._value.get())
        async with store.engine.connect() as conn:
            stored = int((await conn.execute(sa.select(sa.func.count()).select_from(t.anomalies))).scalar_one())
    result.update(kind=kind, concurrency=concurrency, core_caught_up_s=drained, stop_s=stopped, stored=stored,
                  in_core=in_core, dropped=requests - stored)
    await store.close()
    return result


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for c in args.concurrency:
        for kind in args.kind:
            with tempfile.TemporaryDirectory() as tmp:
                async with fresh_store(args.store, tmp, f"{kind}_c{c}") as url:
                    rows.append(await one_run(url, args.requests, c, kind))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    ap.add_argument("--store", default=None, help="default: SQLite in a temporary folder; postgresql://…/DB: "
                                                   "a fresh database per run, created through DB and dropped")
    ap.add_argument("--kind", nargs="+", choices=list(PATHS), default=list(PATHS))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rows = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print("| endpoint | concurrency | requests | req/s | p50 | p99 | max | answers | stored / reached the core "
              "| dropped | core caught up after | stop |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for r in rows:
            print(f"| {PATHS[r['kind']]} | {r['concurrency']} | {r['requests']} | {r['rps']:.0f} | {r['p50_ms']:.1f} ms | {r['p99_ms']:.1f} ms "
                  f"| {r['max_ms']:.0f} ms | {r['statuses']} | {r['stored']} / {r['in_core']} | {r['dropped']} "
                  f"| {r['core_caught_up_s']:.1f} s | {r['stop_s']:.1f} s |")
    bad = [r for r in rows if r["dropped"] or set(r["statuses"]) != {"202"} or r["in_core"] != r["stored"]]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
