"""Start real Prometheus and Alertmanager (Debian packages) on free loopback ports in tmp dirs."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from daemon.sources.scenario import Scenario
from tests.conftest import require_or_skip

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_binary(name: str) -> str:
    path = shutil.which(name) or (name if Path(name).exists() else None)
    require_or_skip(path is not None, f"{name} not installed (Debian package; .ci/run installs it)")
    assert path is not None
    return path


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout}s: {log.read_text()[-2000:]}")


@contextmanager
def running(args: list[str], ready_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as fh:
        proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        _wait_http(ready_url, proc, log)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def openmetrics(scenario: Scenario, start: float, end: float) -> str:
    """The scenario's samples in ``[start, end]`` as OpenMetrics gauges named after their signal."""
    families: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for s in scenario.samples():
        if start <= s.ts <= end:
            families.setdefault(s.signal, {}).setdefault(s.service, []).append((s.ts, s.value))
    lines = []
    for signal, by_service in sorted(families.items()):
        lines.append(f"# TYPE {signal} gauge")
        for service, points in sorted(by_service.items()):
            for ts, value in sorted(points):
                lines.append(f'{signal}{{service="{service}"}} {value!r} {ts:.0f}')
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@contextmanager
def prometheus_with(scenario: Scenario, start: float, end: float, tmp: Path) -> Iterator[str]:
    """A real Prometheus serving the scenario window, backfilled with promtool; yields its URL."""
    prometheus, promtool = require_binary(PROMETHEUS), require_binary(PROMTOOL)
    data = tmp / "prom-data"
    data.mkdir()
    om = tmp / "scenario.om"
    om.write_text(openmetrics(scenario, start, end))
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(om), str(data)],
                   check=True, capture_output=True, timeout=120)
    cfg = tmp / "prometheus.yml"
    cfg.write_text("global: {scrape_interval: 1m}\nscrape_configs: []\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running([prometheus, f"--config.file={cfg}", f"--storage.tsdb.path={data}",
                  f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=100y"],
                 f"{url}/-/ready", tmp / "prometheus.log"):
        yield url


@contextmanager
def alertmanager_to(webhook_url: str, tmp: Path, bearer: str) -> Iterator[str]:
    """A real Alertmanager routing every alert at once to ``webhook_url``; yields its URL."""
    am = require_binary(ALERTMANAGER)
    cfg = tmp / "alertmanager.yml"
    cfg.write_text(json.dumps({
        "route": {"receiver": "whatchanged", "group_by": ["alertname"], "group_wait": "0s",
                  "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "whatchanged", "webhook_configs": [{
            "url": webhook_url, "send_resolved": True,
            "http_config": {"authorization": {"type": "Bearer", "credentials": bearer}}}]}],
    }))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = tmp / "am-data"
    data.mkdir()
    with running([am, f"--config.file={cfg}", f"--storage.path={data}", f"--web.listen-address=127.0.0.1:{port}",
                  "--cluster.listen-address="], f"{url}/-/ready", tmp / "alertmanager.log"):
        yield url
