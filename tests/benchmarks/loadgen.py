"""A bounded HTTP load generator (second process, loopback only): POSTs JSON bodies and reports
requests per second and latency percentiles as one JSON line on stdout.

Usage: python loadgen.py URL --requests N --concurrency C [--timeout S] [--token T]
Each request posts one change with a unique id (``chg-load-<i>``), or with ``--kind alertmanager``
one firing alert in an Alertmanager webhook payload, so the receiver can be checked for exactly N.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from datetime import UTC

import aiohttp


def alert_body(i: int, t0: float) -> bytes:
    from datetime import datetime
    starts = datetime.fromtimestamp(t0 + i, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps({"version": "4", "status": "firing", "receiver": "whatchanged", "alerts": [{
        "status": "firing", "labels": {"alertname": "HighErrorRate", "service": f"svc{i % 50}", "n": str(i)},
        "annotations": {"summary": f"alert {i}"}, "startsAt": starts, "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": f"fp{i:08x}"}]}).encode()


def body(i: int, t0: float) -> bytes:
    return json.dumps({"id": f"chg-load-{i}", "ts": t0 + i * 0.001, "kind": "deploy",
                       "service": f"svc{i % 50}", "summary": f"load change {i}", "actor": "loadgen",
                       "attributes": {"n": str(i)}}).encode()


async def run(url: str, n: int, concurrency: int, timeout: float, token: str | None,
              kind: str = "changes") -> dict[str, object]:
    make = alert_body if kind == "alertmanager" else body
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    next_i = 0
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    t0 = 1_790_000_000.0
    deadline = time.monotonic() + timeout

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal next_i
        while next_i < n and time.monotonic() < deadline:
            i = next_i
            next_i += 1
            start = time.perf_counter()
            try:
                async with session.post(url, data=make(i, t0), headers=headers) as r:
                    await r.read()
                    statuses[str(r.status)] += 1
            except (TimeoutError, aiohttp.ClientError) as e:
                statuses[type(e).__name__] += 1
            latencies.append(time.perf_counter() - start)

    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=30)) as session:
        began = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        took = time.perf_counter() - began
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else float("nan")

    return {"requests": len(latencies), "seconds": took, "rps": len(latencies) / took if took else 0.0,
            "p50_ms": pct(0.50) * 1000, "p99_ms": pct(0.99) * 1000, "max_ms": (latencies[-1] * 1000) if latencies else 0,
            "statuses": dict(statuses)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--timeout", type=float, default=120.0, help="stop sending after this many seconds")
    ap.add_argument("--token", default=None)
    ap.add_argument("--kind", choices=["changes", "alertmanager"], default="changes")
    a = ap.parse_args()
    if not a.url.startswith(("http://127.", "http://localhost")):
        raise SystemExit("loadgen: loopback URLs only")
    print(json.dumps(asyncio.run(run(a.url, a.requests, a.concurrency, a.timeout, a.token, a.kind))))


if __name__ == "__main__":
    main()
