"""kill -9 mid-delivery: the daemon dies while the receiver holds the page's request open.

The page was written to the outbox before the send, so the next process finds it pending
and delivers it with the same key; the receiver accepts it exactly once. The restarted
process re-reads the same source window (a catch-up overlap) and decides nothing new.

The outbox claims a row for ``send_timeout + 30`` s before sending (so replicas never send
one row at once); after a kill -9 the row is re-sent once that lease has passed: with the
child's 10 s send timeout, about 40 s after the kill. Hence ``slow``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path

import pytest

from .harness import until
from .receiver import Receiver

ROOT = Path(__file__).resolve().parents[2]


async def _spawn(db: Path, url: str, steps: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.resilience.child_daemon", str(db), url, str(steps), cwd=str(ROOT),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)})


def _rows(db: Path) -> list[tuple[str, str, int]]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT key, status, attempts FROM notifications ORDER BY id").fetchall()
    finally:
        con.close()


@pytest.mark.slow
async def test_kill_9_mid_delivery_then_restart(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    async with Receiver(["hang"]) as rx:
        first = await _spawn(db, rx.url, 100)
        try:
            assert await until(lambda: rx.attempts, 60), "the first process never tried to page"
            first.send_signal(signal.SIGKILL)  # mid-delivery: the receiver holds the request
            assert await first.wait() == -signal.SIGKILL
        finally:
            if first.returncode is None:
                first.kill()
        assert rx.accepted == []
        rows = _rows(db)
        assert len(rows) == 1 and rows[0][1] == "pending", rows  # durable: written before the send
        key = rows[0][0]

        second = await _spawn(db, rx.url, 100)
        try:
            assert await until(lambda: rx.accepted, 120), "the page was lost after kill -9"
            await asyncio.sleep(1.0)  # time for a wrongful second send to show up
            second.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(second.communicate(), 30)
        finally:
            if second.returncode is None:
                second.kill()
        assert second.returncode == 0, err.decode()[-2000:]
        assert "Traceback" not in err.decode()
    assert rx.accepted == [key] and rx.doubled() == {}  # same key, accepted once
    assert set(rx.attempts) == {key}
    assert [(k, st) for k, st, _ in _rows(db)] == [(key, "sent")]
