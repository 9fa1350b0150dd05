"""kill -9 of the daemon between the outbox write and the receiver's answer: after restart, one page."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from daemon.store import Store
from tests.daemon.servers import free_port

from ..conftest import ROOT
from .receivers import serve_receivers


def _start(store_url: str, hook: str, secret: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as f:
        return subprocess.Popen([sys.executable, "-m", "tests.daemon.crash_daemon", "--store", store_url,
                                 "--hook", hook, "--secret", secret, "--port", str(free_port())],
                                cwd=ROOT, stdout=f, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})


async def _until(cond, timeout: float, what: str, log: Path) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(timeout / 0.1)):
        if await cond():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; daemon log:\n{log.read_text()[-3000:]}")


async def test_kill_9_between_outbox_write_and_ack_pages_once(store_url: str, tmp_path: Path) -> None:
    log = tmp_path / "daemon.log"
    async with serve_receivers() as (rec, url):
        rec.script["/hook"] = ["hang"]  # the first delivery gets in, its answer never comes back
        secret = rec.webhook_secret.decode()
        proc = _start(store_url, f"{url}/hook", secret, log)
        store = await Store.open(store_url)
        try:
            async def held() -> bool:
                return any(path == "/hook" for path, _ in rec.requests)
            await _until(held, 60, "the first page to reach the receiver", log)
            [row] = await store.notifications.find()
            assert row.status == "pending" and row.action == "trigger"
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(10) == -signal.SIGKILL

            proc = _start(store_url, f"{url}/hook", secret, log)  # restart: same store, same input

            async def sent() -> bool:
                rows = [n for n in await store.notifications.find() if n.action == "trigger"]
                return bool(rows) and all(n.status == "sent" for n in rows)
            await _until(sent, 60, "the page to be marked sent after restart", log)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0
            triggers = [n for n in await store.notifications.find() if n.action == "trigger"]
            assert [(n.key, n.status) for n in triggers] == [(row.key, "sent")]  # same row, same key
            assert rec.hook_keys[row.key] == 2  # re-sent after the crash, with the same key
            assert [b["key"] for b in rec.hook_accepted if b["action"] == "trigger"] == [row.key]  # one page
            assert rec.violations == []
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            await store.close()
