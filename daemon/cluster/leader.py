"""Leader election: the extension point and its PostgreSQL advisory-lock adapter.

An elector runs for the life of the daemon and keeps an :class:`asyncio.Event`
set exactly while this replica may group, rank and page. It clears the event as
soon as it cannot prove it still leads: paging stops at once on leadership loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol, runtime_checkable

__all__ = ["LEADER_LOCK", "LeaderElector", "PostgresAdvisoryLeader"]

log = logging.getLogger("whatchanged.cluster.leader")

LEADER_LOCK = 0x77686C64  # "whld": advisory lock id of the leader (the migration lock is another id)


@runtime_checkable
class LeaderElector(Protocol):
    """Campaign for leadership until cancelled."""

    async def campaign(self, leading: asyncio.Event) -> None:
        """Set ``leading`` while this replica leads; clear it the moment leadership is lost or unsure.

        Runs until cancelled, re-campaigning after every loss; never raises otherwise.
        """
        ...


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as asyncpg's ``connect`` takes it.

    >>> asyncpg_dsn("postgresql+asyncpg://u@h:5432/db")
    'postgresql://u@h:5432/db'
    """
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix):]
    return url


class PostgresAdvisoryLeader:
    """Leadership is a session-level advisory lock held on a dedicated connection.

    The lock is released by PostgreSQL the moment the holder's session ends (a
    crash, a kill, a closed socket), so another replica takes over within
    ``retry`` seconds. The holder re-checks every ``check_every`` seconds that
    its session still holds the lock and steps down if the check fails or does
    not answer within ``timeout``.

    Parameters
    ----------
    url
        The store's PostgreSQL URL (``postgresql://`` or ``postgresql+asyncpg://``).
    key
        The advisory lock id; replicas of one installation must agree on it.
    """

    def __init__(self, url: str, *, key: int = LEADER_LOCK, retry: float = 1.0, check_every: float = 1.0,
                 timeout: float = 3.0, connect: Any = None) -> None:
        self.dsn = asyncpg_dsn(url)
        self.key = key
        self.retry = retry
        self.check_every = check_every
        self.timeout = timeout
        self._connect = connect

    async def _open(self) -> Any:
        if self._connect is not None:
            return await self._connect()
        import asyncpg
        return await asyncpg.connect(self.dsn, timeout=self.timeout)

    async def _holds(self, conn: Any) -> bool:
        return bool(await asyncio.wait_for(conn.fetchval(
            "SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND pid = pg_backend_pid() AND ((classid::bigint << 32) | objid::bigint) = $1", self.key),
            timeout=self.timeout))

    async def campaign(self, leading: asyncio.Event) -> None:
        while True:
            conn: Any = None
            try:
                conn = await self._open()
                while True:
                    got = await asyncio.wait_for(conn.fetchval("SELECT pg_try_advisory_lock($1)", self.key),
                                                 timeout=self.timeout)
                    if got:
                        break
                    await asyncio.sleep(self.retry)
                leading.set()
                log.info("leadership acquired (PostgreSQL advisory lock %d)", self.key)
                # PostgreSQL does not notify a lost session lock: asking again is the only way to know
                while await self._holds(conn):  # noqa: ASYNC110
                    await asyncio.sleep(self.check_every)
                log.warning("leadership lost: the advisory lock is no longer held")
            except asyncio.CancelledError:
                raise
            except Exception as e:
                if leading.is_set():
                    log.warning("leadership lost: %s: %s", type(e).__name__, e)
                else:
                    log.debug("leader campaign failed: %s", e)
            finally:
                leading.clear()
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.terminate()
            await asyncio.sleep(self.retry)
