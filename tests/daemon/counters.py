"""Counter exporters of the end-to-end tests against the real Prometheus: the exposition text of a
simulated shop's counters, and the same history as OpenMetrics for ``promtool tsdb create-blocks-from``."""

from __future__ import annotations

import asyncio
import math
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol


class CounterShop(Protocol):
    def series(self, k: int) -> Iterable[tuple[str, dict[str, str], int]]:
        """Each counter's name, labels and value at second ``k``."""
        ...


def cumsum(xs: list[int]) -> list[int]:
    """Running totals: per-second increments as a counter's values.

    >>> cumsum([1, 0, 2])
    [1, 1, 3]
    """
    out, acc = [], 0
    for x in xs:
        acc += x
        out.append(acc)
    return out


def label_text(labels: dict[str, str]) -> str:
    """``{code="500",pod="a"}``: labels in the exposition format, sorted.

    >>> label_text({"pod": "a", "code": "500"})
    '{code="500",pod="a"}'
    """
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def exposition(shop: CounterShop, k: int) -> str:
    """The shop's counters at second ``k`` as a scrape answers them."""
    return "".join(f"{n}{label_text(lb)} {v}\n" for n, lb, v in shop.series(k))


def serve_counters(shop: CounterShop, port: int) -> Iterator[None]:
    """Serve the shop's counters at the wall clock's second on ``127.0.0.1:port`` until closed
    (a generator: ``next()`` starts it, ``close()`` stops it)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = exposition(shop, math.floor(time.time())).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def openmetrics(shop: CounterShop, start: int, end: int) -> str:
    """The shop's counters over ``[start, end)`` at each second (gauges: promtool takes them as is)."""
    by_series: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for k in range(start, end):
        for name, labels, v in shop.series(k):
            by_series.setdefault((name, label_text(labels)), []).append((k, v))
    lines = []
    for name in sorted({n for n, _ in by_series}):
        lines.append(f"# TYPE {name} gauge")
        for (n, lbl), points in sorted(by_series.items()):
            if n == name:
                lines += [f"{name}{lbl} {v} {k}" for k, v in points]
    return "\n".join([*lines, "# EOF"]) + "\n"


async def backfill(promtool: str, shop: CounterShop, start: int, end: int, tmp: Path) -> Path:
    """A Prometheus data directory under ``tmp`` holding the shop's counters over ``[start, end)``."""
    data = tmp / "prom-data"
    data.mkdir()
    om = tmp / "history.om"
    om.write_text(openmetrics(shop, start, end))
    await asyncio.to_thread(subprocess.run, [promtool, "tsdb", "create-blocks-from", "openmetrics", str(om), str(data)],
                            check=True, capture_output=True, timeout=60)
    return data


def scrape_config(path: Path, exporter_port: int | None = None) -> Path:
    """Prometheus's config at ``path``: scrape the exporter every second, or nothing (history only)."""
    if exporter_port is None:
        path.write_text("global: {scrape_interval: 1m}\nscrape_configs: []\n")
    else:
        path.write_text("global: {scrape_interval: 1s, evaluation_interval: 1m}\nscrape_configs:\n"
                        "  - job_name: shop\n    honor_labels: true\n"
                        f"    static_configs: [{{targets: ['127.0.0.1:{exporter_port}']}}]\n")
    return path
