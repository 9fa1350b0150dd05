"""The one session factory every repository shares: the engine, its dialect and the write transaction.

A repository never opens an engine of its own; it asks this holder for a read connection
(:meth:`Database.read`) or a write transaction (:meth:`Database.write`), and for a
dialect-aware insert (:meth:`Database.insert`) when it upserts. A write method that takes
``tx`` runs inside the caller's transaction instead of opening one (:meth:`Database.transaction`),
so a unit of work over several record types commits or rolls back as one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = ["Database"]


class Database:
    """An open engine and how to read and write through it (SQLite or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        # SQLite takes one writer at a time; PostgreSQL locks rows, its writers need no queue
        self.write_lock = asyncio.Lock() if self.dialect == "sqlite" else None
        self._writer: asyncio.Task[Any] | None = None  # the task inside the SQLite write lock

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction (committed on exit, rolled back on error).

        On SQLite this process's writers take turns on a first-come, first-served lock before
        they begin: waiting in SQLite's busy handler instead (it sleeps in steps of up to 100 ms
        and lets no one in line) made the tail latency of ``POST /api/v1/changes`` under
        concurrent clients far worse. Another process writing the same file still meets the handler.
        """
        if self.write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        me = asyncio.current_task()
        if me is not None and me is self._writer:
            # the lock is not re-entrant: waiting for it here would wait for ourselves forever
            raise RuntimeError("a write inside an open write transaction: pass it as tx= instead")
        async with self.write_lock:
            self._writer = me
            try:
                async with self.engine.begin() as conn:
                    yield conn
            finally:
                self._writer = None

    @asynccontextmanager
    async def transaction(self, tx: AsyncConnection | None) -> AsyncIterator[AsyncConnection]:
        """The caller's transaction ``tx`` when given (a unit of work), else a new one of :meth:`write`."""
        if tx is not None:
            yield tx
            return
        async with self.write() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads (no transaction is committed)."""
        async with self.engine.connect() as conn:
            yield conn

    def insert(self, table: sa.Table) -> Any:
        """``INSERT`` in this dialect, so that ``on_conflict_do_nothing`` / ``_do_update`` are available."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    async def close(self) -> None:
        await self.engine.dispose()
