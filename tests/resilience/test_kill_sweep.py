"""kill -9 at many instants from an alert's intake to its delivery: every round pages exactly once.

Each round: a fresh SQLite store, a daemon in a child process paging a signed webhook and a
PagerDuty-shaped receiver; a critical Alertmanager alert is posted and the daemon is killed
with SIGKILL ``delay`` after the POST began, the delays sweeping 0 to 600 ms across the rounds
(before the 202, between the 202 and the incident's save, between the save and the page
decision at the next quiet moment, mid-delivery, after it). Then a new process starts on the
same store; if the first never answered 202 the alert is posted again (Alertmanager retries
an unanswered webhook). Every round must end with exactly one page per receiver (the webhook
deduplicated by ``Idempotency-Key``, PagerDuty's phone ringing once for one ``dedup_key``),
every body strict JSON (no ``Infinity``), no key built from a time that is not finite.

Daemons are forked from a warm parent (:mod:`tests.resilience.kill_child`): importing the
daemon takes seconds here, forking milliseconds. ``KILL_ROUNDS`` sets the number of rounds.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.daemon.receivers import Receivers, serve_receivers
from tests.daemon.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = int(os.environ.get("KILL_ROUNDS", "24"))
SPAN = 0.6  # seconds after the POST over which the kill instants are spread


class Zygote:
    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.resilience.kill_child", cwd=str(ROOT),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 120)
        assert line.strip() == b"ready", line

    async def spawn(self, db: Path, port: int, base: str) -> int:
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{db} {port} {base}\n".encode())
        await self.proc.stdin.drain()
        return int(await asyncio.wait_for(self.proc.stdout.readline(), 30))

    async def close(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _gone(pid: int, budget: float = 20.0) -> None:
    deadline = time.monotonic() + budget
    while _alive(pid):
        assert time.monotonic() < deadline, f"process {pid} did not exit"
        await asyncio.sleep(0.02)


async def _healthy(http: aiohttp.ClientSession, port: int, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.02)
    raise AssertionError(f"daemon on {port} never became healthy:\n{log.read_text()[-3000:]}")


async def _post(http: aiohttp.ClientSession, port: int, body: dict[str, Any]) -> int | None:
    try:
        async with http.post(f"http://127.0.0.1:{port}/api/v1/webhooks/alertmanager", json=body) as r:
            return r.status
    except (aiohttp.ClientError, TimeoutError):
        return None  # killed before it answered


def _alert(i: int) -> dict[str, Any]:
    starts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    return {"version": "4", "status": "firing", "alerts": [{
        "status": "firing", "startsAt": starts, "endsAt": "0001-01-01T00:00:00Z", "fingerprint": f"kill{i:04d}",
        "labels": {"alertname": "HighErrorRate", "service": "checkout", "severity": "critical"},
        "annotations": {"summary": "checkout errors at 5%"}}]}


def _strict(body: Any) -> bool:
    try:
        json.dumps(body, allow_nan=False)
    except ValueError:
        return False
    return True


def _round_result(rec: Receivers) -> dict[str, Any]:
    pd_triggers = [e for e in rec.pd_events if e["event_action"] == "trigger"]
    return {"hook_pages": len(rec.hook_accepted), "hook_sends": sum(rec.hook_keys.values()),
            "pd_pages": rec.pd_pages, "pd_keys": len({e["dedup_key"] for e in pd_triggers}),
            "pd_sends": len(pd_triggers), "keys": [b["key"] for b in rec.hook_accepted],
            "strict_json": all(_strict(b) for b in rec.hook_accepted) and all(_strict(e) for e in rec.pd_events),
            "violations": list(rec.violations)}


async def _one_round(z: Zygote, http: aiohttp.ClientSession, tmp: Path, i: int, delay: float) -> dict[str, Any]:
    db = tmp / f"round{i}.db"
    log = Path(f"{db}.log")
    async with serve_receivers() as (rec, base):
        port = free_port()
        first = await z.spawn(db, port, base)
        second: int | None = None
        try:
            await _healthy(http, port, log)
            post = asyncio.create_task(_post(http, port, _alert(i)))
            await asyncio.sleep(delay)
            os.kill(first, signal.SIGKILL)
            await _gone(first)
            status = await post
            port2 = free_port()
            second = await z.spawn(db, port2, base)
            await _healthy(http, port2, log)
            if status != 202:  # never acknowledged: Alertmanager sends it again
                assert await _post(http, port2, _alert(i)) == 202
            deadline = time.monotonic() + 30
            while not (rec.hook_accepted and rec.pd_pages):
                assert time.monotonic() < deadline, f"round {i} ({delay * 1000:.0f} ms): no page after restart; " \
                                                    f"receivers {_round_result(rec)}\n{log.read_text()[-4000:]}"
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)  # time for a wrongful second page to show up
            os.kill(second, signal.SIGTERM)
            await _gone(second)
        finally:
            for pid in (first, second):
                if pid is not None and _alive(pid):
                    os.kill(pid, signal.SIGKILL)
        result = _round_result(rec)
    result.update(round=i, delay_ms=round(delay * 1000), acked_before_kill=status == 202,
                  traceback="Traceback" in log.read_text().replace("daemon failed", ""))
    return result


async def test_kill_9_at_any_instant_pages_exactly_once_per_receiver(tmp_path: Path) -> None:
    z = Zygote()
    await z.start()
    results = []
    started = time.monotonic()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            for i in range(ROUNDS):
                results.append(await _one_round(z, http, tmp_path, i, SPAN * i / max(1, ROUNDS - 1)))
    finally:
        await z.close()
    took = time.monotonic() - started
    bad = [r for r in results if (r["hook_pages"], r["pd_pages"], r["pd_keys"]) != (1, 1, 1)
           or not r["strict_json"] or r["violations"] or any("inf" in k for k in r["keys"])]
    resent = sum(r["hook_sends"] - 1 + r["pd_sends"] - 1 for r in results)
    print(f"\nkill sweep: {len(results)} rounds in {took:.1f}s, {sum(r['acked_before_kill'] for r in results)} "
          f"acknowledged before the kill, {2 * len(results) - 2 * len(bad)} of {2 * len(results)} receivers paged "
          f"exactly once, {resent} re-sends (same key, deduplicated)")
    assert bad == [], bad
    assert not any(r["traceback"] for r in results), [r["round"] for r in results if r["traceback"]]
    assert len(results) == ROUNDS


pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fork and SIGKILL")
