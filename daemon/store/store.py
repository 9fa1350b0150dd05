"""The store: SQLAlchemy 2 async over SQLite (aiosqlite, the default) or PostgreSQL (asyncpg).

:class:`Store` opens the engine, migrates the schema and holds one repository per record
type over the shared :class:`~daemon.store.session.Database`. The schema is managed by
Alembic and migrated on open; on PostgreSQL an advisory lock makes that safe with several
replicas starting at once.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

from . import tables as t
from .alerts import AlertInbox
from .changes import ChangeRepository
from .checkpoints import CheckpointRepository
from .cursors import CursorRepository
from .decisions import DecisionLog
from .detections import DetectionRepository
from .feedback import FeedbackRepository
from .health import HealthRepository
from .hypotheses import HypothesisRepository
from .incidents import IncidentRepository
from .members import MemberRepository
from .notifications import NotificationRepository
from .refs import ReceiverRefRepository
from .retention import Retention
from .series_states import SeriesStateRepository
from .session import Database
from .silences import SilenceRepository
from .snapshots import SnapshotRepository

__all__ = ["Store", "StoreError", "describe_store_error", "normalise_url"]

_MIGRATION_LOCK = 0x77686174  # "what": PostgreSQL advisory lock id for migrations


class StoreError(Exception):
    """The store is unreachable or refused an operation."""


def _alembic_config() -> Config:
    cfg = Config(str(Path(__file__).with_name("alembic.ini")))
    cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    return cfg


def _upgrade(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
    cfg = _alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


def describe_store_error(e: BaseException) -> str:
    """A short reason for a store failure, for /readyz and 503 answers (never the URL or a password).

    >>> describe_store_error(OSError(28, "No space left on device"))
    'store disk full'
    """
    text = f"{type(e).__name__} {getattr(e, 'orig', '')} {e}".lower()
    for needle, reason in (("readonly", "store is read-only"), ("read-only", "store is read-only"),
                           ("no space", "store disk full"), ("disk is full", "store disk full"),
                           ("database or disk is full", "store disk full"),
                           ("undefinedtable", "store schema missing"), ("no such table", "store schema missing"),
                           ("does not exist", "store schema missing"),
                           ("connect", "store unreachable"), ("connection", "store unreachable"),
                           ("timeout", "store unreachable"), ("locked", "store busy")):
        if needle in text:
            return reason
    return "store unavailable"


def normalise_url(url: str) -> str:
    """Accept plain ``sqlite:///`` and ``postgresql://`` URLs and pick the async drivers.

    >>> normalise_url("postgresql://u@h/db"), normalise_url("sqlite:///x.db")
    ('postgresql+asyncpg://u@h/db', 'sqlite+aiosqlite:///x.db')
    """
    for plain, driver in (("postgresql://", "postgresql+asyncpg://"), ("postgres://", "postgresql+asyncpg://"),
                          ("sqlite://", "sqlite+aiosqlite://")):
        if url.startswith(plain):
            return driver + url[len(plain):]
    return url


class Store:
    """The open database and its repositories. Create with :meth:`open`; close with :meth:`close`.

    Each attribute below is the repository of one record type; they share :attr:`db`, so a
    unit of work over several (:attr:`decisions`) is one transaction.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.engine = db.engine
        self.dialect = db.dialect
        self.changes = ChangeRepository(db)
        self.health = HealthRepository(db)
        self.alerts = AlertInbox(db)
        self.incidents = IncidentRepository(db)
        self.notifications = NotificationRepository(db)
        self.refs = ReceiverRefRepository(db)
        self.feedback = FeedbackRepository(db)
        self.checkpoints = CheckpointRepository(db)
        self.cursors = CursorRepository(db)
        self.members = MemberRepository(db)
        self.detections = DetectionRepository(db)
        self.series_states = SeriesStateRepository(db)
        self.snapshots = SnapshotRepository(db)
        self.hypotheses = HypothesisRepository(db)
        self.silences = SilenceRepository(db)
        self.decisions = DecisionLog(db, self.incidents, self.notifications, self.alerts)
        self.retention = Retention(db)

    @classmethod
    async def open(cls, url: str, *, migrate: bool = True) -> Store:
        url = normalise_url(url)
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_pre_ping=True, pool_size=5, max_overflow=5)
        engine = create_async_engine(url, **kwargs)
        if url.startswith("sqlite"):
            @sa.event.listens_for(engine.sync_engine, "connect")
            def _pragmas(dbapi_conn: Any, _: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA busy_timeout=30000")
                cur.close()
        store = cls(Database(engine))
        if migrate:
            await store.migrate()
        return store

    async def migrate(self) -> None:
        try:
            async with self.engine.begin() as conn:
                await conn.run_sync(_upgrade)
        except (SQLAlchemyError, OSError) as e:
            raise StoreError(f"cannot migrate the store: {e}") from e

    async def close(self) -> None:
        await self.db.close()

    async def ping(self) -> bool:
        try:
            async with self.db.read() as conn:
                await conn.execute(sa.text("SELECT 1"))
            return True
        except (TimeoutError, SQLAlchemyError, OSError):
            return False

    async def unwritable(self) -> str | None:
        """Why the store takes no writes (a read-only file, a missing table, a full disk, a lost
        connection), or ``None`` when it does. Writes a row in a transaction it rolls back."""
        c = t.cursors
        try:
            async with self.db.write_lock or contextlib.nullcontext(), self.engine.connect() as conn, \
                    conn.begin() as txn:
                await conn.execute(self.db.insert(c).values(source="__readyz__", value="", updated_at=0.0)
                                   .on_conflict_do_nothing(index_elements=["source"]))
                await txn.rollback()
            return None
        except (SQLAlchemyError, OSError) as e:
            return describe_store_error(e)
