"""The store: SQLAlchemy 2 async over SQLite (aiosqlite, the default) or PostgreSQL (asyncpg).

The schema is managed by Alembic and migrated on open; on PostgreSQL an
advisory lock makes that safe with several replicas starting at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from correlators.types import Change, ChangeKind, HealthEvent

from ..core.events import AlertEvent, ChangeStatus
from ..core.guard import bounded_id
from . import tables as t

__all__ = ["Notification", "Store", "StoreError"]

log = logging.getLogger("whatchanged.store")

_MIGRATION_LOCK = 0x77686174  # "what": PostgreSQL advisory lock id for migrations


class StoreError(Exception):
    """The store is unreachable or refused an operation."""


@dataclass(frozen=True, slots=True)
class Notification:
    """One outbox row: a page action for one receiver."""

    id: int
    key: str
    incident_id: str
    receiver: str
    action: str
    dedup_key: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float
    sent_at: float | None


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


def _earlier_pending() -> Any:
    """An older notification for the same incident and receiver is still pending (it goes first)."""
    n, earlier = t.notifications, t.notifications.alias("earlier")
    return sa.exists().where(earlier.c.incident_id == n.c.incident_id, earlier.c.receiver == n.c.receiver,
                             earlier.c.status == "pending", earlier.c.id < n.c.id)


def _alert_json(a: AlertEvent) -> dict[str, Any]:
    return {"ts": a.ts, "service": a.service, "signal": a.signal, "series": a.series, "firing": a.firing,
            "confidence": a.confidence, "summary": a.summary, "starts_at": a.starts_at}


def _alert_of(d: dict[str, Any]) -> AlertEvent:
    return AlertEvent(float(d["ts"]), str(d["service"]), str(d["signal"]), str(d["series"]), bool(d["firing"]),
                      float(d["confidence"]), str(d.get("summary", "")),
                      None if d.get("starts_at") is None else float(d["starts_at"]))


def _anomaly_row(a: dict[str, Any], incident_id: str) -> dict[str, Any]:
    """The ``anomalies`` row of one anomaly of an incident document."""
    return {"series": _fit(a.get("series") or f"{a['service']}/{a['signal']}", 512),
            "service": _fit(a["service"], 253), "signal": _fit(a["signal"], 253), "onset": float(a["onset"]), "detected_at": a["detected_at"],
            "direction": a["direction"], "before": a["before"], "after": a["after"],
            "confidence": a["confidence"], "recovered_at": a.get("recovered_at"), "incident_id": incident_id}


def _fit(value: Any, limit: int) -> str:
    """A value for a bounded column: the edge bounds it already; this is the last line (a digest if longer)."""
    return bounded_id(str(value), limit)


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
    """Async access to the database. Create with :meth:`open`; close with :meth:`close`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        # SQLite takes one writer at a time; PostgreSQL locks rows, its writers need no queue
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None

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
        store = cls(engine)
        if migrate:
            await store.migrate()
        return store

    async def migrate(self) -> None:
        try:
            async with self.engine.begin() as conn:
                await conn.run_sync(_upgrade)
        except (SQLAlchemyError, OSError) as e:
            raise StoreError(f"cannot migrate the store: {e}") from e

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction (committed on exit, rolled back on error).

        On SQLite this process's writers take turns on a first-come, first-served lock before
        they begin: waiting in SQLite's busy handler instead (it sleeps in steps of up to 100 ms
        and lets no one in line) made the p99 of ``POST /api/v1/changes`` at 16 concurrent
        clients about a second. Another process writing the same file still meets the handler.
        """
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.engine.begin() as conn:
            yield conn

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
            return True
        except (TimeoutError, SQLAlchemyError, OSError):
            return False

    def _insert(self, table: sa.Table) -> Any:
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    # -- changes ----------------------------------------------------------------
    async def add_changes(self, items: Sequence[Change], *, source: str = "api",
                          received_at: float | None = None) -> list[bool]:
        """Insert changes; idempotent on id. Returns, per change, whether it was new. All or nothing."""
        now = received_at if received_at is not None else time.time()
        inserted: list[bool] = []
        async with self.write() as conn:
            for ch in items:
                stmt = self._insert(t.changes).values(
                    id=ch.id, ts=ch.ts, kind=ch.kind.value, service=ch.service, namespace=ch.namespace,
                    summary=ch.summary, actor=ch.actor, attributes=dict(ch.attributes), source=source,
                    received_at=now, status=ch.status, completed_at=ch.completed_at,
                ).on_conflict_do_nothing(index_elements=["id"])
                res = await conn.execute(stmt)
                inserted.append(res.rowcount == 1)
        return inserted

    async def list_changes(self, since: float | None = None, until: float | None = None,
                           service: str | None = None, limit: int = 1000, offset: int = 0) -> list[Change]:
        q = sa.select(t.changes).order_by(t.changes.c.ts.desc(), t.changes.c.id).limit(limit).offset(offset)
        if since is not None:
            q = q.where(t.changes.c.ts >= since)
        if until is not None:
            q = q.where(t.changes.c.ts <= until)
        if service:
            q = q.where(t.changes.c.service == service)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return [self._change(r) for r in rows]

    @staticmethod
    def _change(r: Any) -> Change:
        return Change(r["id"], r["ts"], ChangeKind(r["kind"]), r["service"], r["namespace"], r["summary"],
                      r["actor"], r["attributes"] or {}, r["status"] or "", r["completed_at"])

    async def get_change(self, change_id: str) -> Change | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(t.changes).where(t.changes.c.id == change_id))).mappings().first()
        return self._change(row) if row else None

    async def update_change_status(self, st: ChangeStatus) -> Change | None | bool:
        """Record a change's outcome (a rollout completed or failed); idempotent and monotonic.

        Returns the updated change, ``None`` when it added nothing (a repeat, or a step back
        from complete), and ``False`` when no change has that id (the outcome is not kept).
        """
        c = t.changes
        async with self.write() as conn:
            q = sa.select(c).where(c.c.id == st.change_id)
            if self.dialect == "postgresql":
                q = q.with_for_update()
            row = (await conn.execute(q)).mappings().first()
            if row is None:
                return False
            updated = st.applied_to(self._change(row))
            if updated is None:
                return None
            await conn.execute(sa.update(c).where(c.c.id == st.change_id).values(
                status=updated.status, completed_at=updated.completed_at, attributes=dict(updated.attributes)))
        return updated

    # -- the Alertmanager inbox ----------------------------------------------------
    async def add_alerts(self, alerts: Sequence[AlertEvent], now: float) -> list[bool]:
        """Keep received alerts before the webhook answers; idempotent on :attr:`AlertEvent.key`
        (fingerprint, startsAt, status). Returns, per alert, whether it was new. All or nothing."""
        new: list[bool] = []
        async with self.write() as conn:
            for a in alerts:
                res = await conn.execute(self._insert(t.alert_inbox).values(
                    key=a.key[:600], alert=_alert_json(a), received_at=now, processed_at=None,
                ).on_conflict_do_nothing(index_elements=["key"]))
                new.append(res.rowcount == 1)
        return new

    async def mark_alerts_processed(self, keys: Sequence[str], now: float) -> int:
        """The core has taken these alerts (and its output is stored): not replayed at the next start."""
        if not keys:
            return 0
        a = t.alert_inbox
        async with self.write() as conn:
            res = await conn.execute(sa.update(a).where(a.c.key.in_([k[:600] for k in keys]))
                                     .where(a.c.processed_at.is_(None)).values(processed_at=now))
        return int(res.rowcount or 0)

    async def unprocessed_alerts(self, limit: int = 10_000) -> list[AlertEvent]:
        """Alerts received but not yet taken by the core (a crash came between), oldest first."""
        a = t.alert_inbox
        q = sa.select(a.c.alert).where(a.c.processed_at.is_(None)).order_by(a.c.id).limit(limit)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [_alert_of(r[0]) for r in rows]

    async def unprocessed_alert_rows(self, limit: int = 10_000) -> list[tuple[str, Any]]:
        """Like :meth:`unprocessed_alerts`, undecoded: ``(key, stored document)``, so a start-up
        replay can set aside a row it cannot read instead of failing on it."""
        a = t.alert_inbox
        q = sa.select(a.c.key, a.c.alert).where(a.c.processed_at.is_(None)).order_by(a.c.id).limit(limit)
        async with self.engine.connect() as conn:
            return [(str(r[0]), r[1]) for r in (await conn.execute(q)).all()]

    async def writable(self) -> str | None:
        """``None`` when the store takes writes, else why not (a read-only file, a missing
        table, a full disk, a lost connection). Writes a row in a transaction it rolls back."""
        c = t.cursors
        try:
            async with self._write_lock or contextlib.nullcontext(), self.engine.connect() as conn, \
                    conn.begin() as txn:
                await conn.execute(self._insert(c).values(source="__readyz__", value="", updated_at=0.0)
                                   .on_conflict_do_nothing(index_elements=["source"]))
                await txn.rollback()
            return None
        except (SQLAlchemyError, OSError) as e:
            return describe_store_error(e)

    # -- health -----------------------------------------------------------------
    async def add_health(self, items: Sequence[HealthEvent]) -> None:
        if not items:
            return
        async with self.write() as conn:
            for h in items:
                await conn.execute(self._insert(t.health_events).values(
                    ts=h.ts, target=h.target, healthy=h.healthy, detail=h.detail,
                ).on_conflict_do_nothing())

    async def list_health(self, since: float | None = None, until: float | None = None,
                          limit: int = 1000) -> list[HealthEvent]:
        q = sa.select(t.health_events).order_by(t.health_events.c.ts.desc()).limit(limit)
        if since is not None:
            q = q.where(t.health_events.c.ts >= since)
        if until is not None:
            q = q.where(t.health_events.c.ts <= until)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return [HealthEvent(r["ts"], r["target"], bool(r["healthy"]), r["detail"]) for r in rows]

    # -- incidents ------------------------------------------------------------------
    async def save_incident(self, doc: dict[str, Any], *, now: float | None = None) -> None:
        """Insert or replace an incident's snapshot, and upsert its anomalies that are new or changed.

        An incident is saved after every event that touches it. The anomaly rows it already has
        are read back (one indexed query) and only the new or changed ones are written, in one
        statement: the work per save is one row per *changed* anomaly, not one statement per
        anomaly of the incident (an alert storm of thousands of anomalies in one incident made
        each save cost thousands of statements, and absorbing the storm quadratic).
        """
        now = now if now is not None else time.time()
        async with self.write() as conn:
            await self._save_incident(conn, doc, now)

    async def commit_decisions(self, docs: Sequence[dict[str, Any]], notifications: Sequence[dict[str, Any]] = (),
                               *, withdraw: Sequence[tuple[str, str]] = (), alert_keys: Sequence[str] = (),
                               now: float) -> int:
        """In one transaction: incidents, the pages decided about them (outbox rows, idempotent
        on ``key``), held-back resolves they withdraw (``(dedup_key, reason)``) and the inbox
        alerts they took. A crash leaves all of it or none: never an incident marked paged
        without its page in the outbox. Returns how many notifications were new."""
        new = 0
        n = t.notifications
        async with self.write() as conn:
            for doc in docs:
                await self._save_incident(conn, doc, now)
            for dedup_key, reason in withdraw:
                await conn.execute(sa.update(n).where(n.c.dedup_key == dedup_key).where(n.c.action == "resolve")
                                   .where(n.c.status == "pending").values(status="superseded",
                                                                          last_error=reason[:2000]))
            for row in notifications:
                res = await conn.execute(self._insert(n).values(
                    **row, status="pending", attempts=0, created_at=now).on_conflict_do_nothing(index_elements=["key"]))
                new += int(res.rowcount == 1)
            if alert_keys:
                a = t.alert_inbox
                await conn.execute(sa.update(a).where(a.c.key.in_([k[:600] for k in alert_keys]))
                                   .where(a.c.processed_at.is_(None)).values(processed_at=now))
        return new

    async def _save_incident(self, conn: AsyncConnection, doc: dict[str, Any], now: float) -> None:
        values = {"state": doc["state"], "onset": doc["onset"], "opened_at": doc["opened_at"],
                  "paged_at": doc["paged_at"], "resolved_at": doc["resolved_at"], "services": doc["services"],
                  "doc": doc, "updated_at": now}
        rows = [_anomaly_row(a, doc["id"]) for a in doc.get("anomalies", [])]
        a = t.anomalies
        stmt = self._insert(t.incidents).values(id=doc["id"], **values)
        await conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=values))
        if not rows:
            return
        held = await conn.execute(sa.select(a.c.series, a.c.onset, a.c.recovered_at)
                                  .where(a.c.incident_id == doc["id"]))
        written = {(r.series, r.onset): r.recovered_at for r in held}
        changed = [r for r in rows
                   if (r["series"], r["onset"]) not in written
                   or written[(r["series"], r["onset"])] != r["recovered_at"]]
        if changed:
            ins = self._insert(a)
            await conn.execute(ins.on_conflict_do_update(
                index_elements=["series", "onset"],
                set_={"recovered_at": ins.excluded.recovered_at, "incident_id": ins.excluded.incident_id}),
                changed)

    async def get_incident(self, incident_id: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(t.incidents.c.doc).where(t.incidents.c.id == incident_id))).first()
        return dict(row[0]) if row else None

    async def list_incidents(self, *, state: str | None = None, service: str | None = None,
                             since: float | None = None, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        """Newest first; open incidents before resolved ones when no state is given."""
        q = sa.select(t.incidents.c.doc, t.incidents.c.services)
        if state:
            q = q.where(t.incidents.c.state == state)
        if since is not None:
            q = q.where(t.incidents.c.onset >= since)
        q = q.order_by((t.incidents.c.state == "open").desc(), t.incidents.c.onset.desc(), t.incidents.c.id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        docs = [dict(r[0]) for r in rows if not service or service in (r[1] or [])]
        return docs[offset: offset + limit]

    # -- outbox -----------------------------------------------------------------
    async def enqueue(self, *, key: str, incident_id: str, receiver: str, action: str, dedup_key: str,
                      payload: dict[str, Any], now: float, next_attempt_at: float | None = None) -> bool:
        """Write a notification before it is sent; idempotent on ``key``. True if new.

        It is delivered from ``next_attempt_at`` (default ``now``; later for a held-back resolve).
        """
        async with self.write() as conn:
            res = await conn.execute(self._insert(t.notifications).values(
                key=key, incident_id=incident_id, receiver=receiver, action=action, dedup_key=dedup_key,
                payload=payload, status="pending", attempts=0,
                next_attempt_at=now if next_attempt_at is None else next_attempt_at, created_at=now,
            ).on_conflict_do_nothing(index_elements=["key"]))
            return bool(res.rowcount == 1)

    async def supersede(self, dedup_key: str, action: str, reason: str) -> int:
        """Withdraw pending ``action`` notifications of an incident (a held resolve after a relapse)."""
        n = t.notifications
        async with self.write() as conn:
            res = await conn.execute(sa.update(n).where(n.c.dedup_key == dedup_key).where(n.c.action == action)
                                     .where(n.c.status == "pending").values(status="superseded",
                                                                            last_error=reason[:2000]))
        return int(res.rowcount or 0)

    async def receivers_for(self, dedup_key: str) -> list[str]:
        """Receivers that were paged (or are being paged) about an incident, in first-paged order."""
        n = t.notifications
        q = (sa.select(n.c.receiver, sa.func.min(n.c.id)).where(n.c.dedup_key == dedup_key)
             .where(n.c.status.in_(("pending", "sent", "failed"))).group_by(n.c.receiver)
             .order_by(sa.func.min(n.c.id)))
        async with self.engine.connect() as conn:
            return [r[0] for r in (await conn.execute(q)).all()]

    async def get_ref(self, dedup_key: str, receiver: str) -> dict[str, Any] | None:
        """What a receiver returned for an incident's first message (Slack: channel and ts)."""
        r = t.receiver_refs
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(r.c.ref).where(r.c.dedup_key == dedup_key)
                                      .where(r.c.receiver == receiver))).first()
        return dict(row[0]) if row else None

    async def save_ref(self, dedup_key: str, receiver: str, ref: dict[str, Any], now: float) -> None:
        stmt = self._insert(t.receiver_refs).values(dedup_key=dedup_key, receiver=receiver, ref=ref, updated_at=now)
        async with self.write() as conn:
            await conn.execute(stmt.on_conflict_do_update(index_elements=["dedup_key", "receiver"],
                                                          set_={"ref": ref, "updated_at": now}))

    @staticmethod
    def _notification(r: Any) -> Notification:
        return Notification(r["id"], r["key"], r["incident_id"], r["receiver"], r["action"], r["dedup_key"],
                            r["payload"], r["status"], r["attempts"], r["next_attempt_at"], r["last_error"],
                            r["created_at"], r["sent_at"])

    async def due_notifications(self, now: float, limit: int = 50) -> list[Notification]:
        """Pending notifications whose time has come, oldest first.

        Per incident and receiver only the oldest pending one is due: a resolve never overtakes
        its trigger while the trigger waits for a retry (the receiver would open an incident
        that nothing resolves)."""
        n = t.notifications
        q = (sa.select(n).where(n.c.status == "pending").where(n.c.next_attempt_at <= now)
             .where(~_earlier_pending()).order_by(n.c.id).limit(limit))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return [self._notification(r) for r in rows]

    async def claim_due_notifications(self, now: float, limit: int = 50, lease: float = 60.0, *,
                                      receivers: Sequence[str] | None = None,
                                      exclude: Sequence[str] | None = None) -> list[Notification]:
        """Take due notifications for delivery by this replica only, for ``lease`` seconds.

        On PostgreSQL the rows are locked ``FOR UPDATE SKIP LOCKED`` and pushed ``lease``
        seconds into the future in one transaction, so replicas delivering the same
        outbox never send a row twice at once; a replica that dies mid-send leaves
        the row to be retried by another once the lease has passed (same key: the
        receiver dedupes). SQLite serialises writers, which gives the same guarantee.
        """
        n = t.notifications
        # An incident's notifications reach a receiver in order: a row waits while an earlier one
        # for the same incident and receiver is pending and not due (backing off, or claimed).
        earlier = t.notifications.alias("earlier")
        blocked = (sa.select(earlier.c.id).where(earlier.c.dedup_key == n.c.dedup_key)
                   .where(earlier.c.receiver == n.c.receiver).where(earlier.c.status == "pending")
                   .where(earlier.c.id < n.c.id).where(earlier.c.next_attempt_at > now))
        pick = (sa.select(n.c.id).where(n.c.status == "pending").where(n.c.next_attempt_at <= now)
                .where(~sa.exists(blocked)).order_by(n.c.id).limit(limit))
        if receivers is not None:  # one receiver's loop: a hung receiver holds up no other
            pick = pick.where(n.c.receiver.in_(list(receivers)))
        if exclude:
            pick = pick.where(n.c.receiver.not_in(list(exclude)))
        if self.dialect == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        # One statement: the pick and the push into the future are atomic on both databases.
        claim = (sa.update(n).where(n.c.id.in_(pick.scalar_subquery())).values(next_attempt_at=now + lease)
                 .returning(*n.c))
        async with self.write() as conn:
            rows = sorted((await conn.execute(claim)).mappings().all(), key=lambda r: r["id"])
        return [self._notification(r) for r in rows]

    async def release_claims(self, now: float) -> int:
        """Make pending notifications due now (a single replica's start: claims held by its previous
        process, which died mid-send, would otherwise wait out their lease). Held-back resolves keep
        their time. Returns how many were released."""
        n = t.notifications
        async with self.write() as conn:
            res = await conn.execute(sa.update(n).where(n.c.status == "pending").where(n.c.next_attempt_at > now)
                                     .where(n.c.action != "resolve").values(next_attempt_at=now))
        return int(res.rowcount or 0)

    async def list_notifications(self, incident_id: str | None = None, status: str | None = None,
                                 limit: int = 200) -> list[Notification]:
        q = sa.select(t.notifications).order_by(t.notifications.c.id).limit(limit)
        if incident_id:
            q = q.where(t.notifications.c.incident_id == incident_id)
        if status:
            q = q.where(t.notifications.c.status == status)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return [self._notification(r) for r in rows]

    async def list_notifications_by_key(self, dedup_key: str, limit: int = 200) -> list[Notification]:
        """An incident's notifications at every receiver, oldest first (withdrawn ones included)."""
        q = (sa.select(t.notifications).where(t.notifications.c.dedup_key == dedup_key)
             .order_by(t.notifications.c.id).limit(limit))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return [self._notification(r) for r in rows]

    async def mark_sent(self, notification_id: int, now: float) -> None:
        async with self.write() as conn:
            await conn.execute(sa.update(t.notifications).where(t.notifications.c.id == notification_id).values(
                status="sent", sent_at=now, attempts=t.notifications.c.attempts + 1, last_error=None))

    async def postpone(self, notification_id: int, next_attempt_at: float) -> None:
        """Move a notification's next attempt without counting an attempt (an open circuit breaker)."""
        async with self.write() as conn:
            await conn.execute(sa.update(t.notifications).where(t.notifications.c.id == notification_id)
                               .values(next_attempt_at=next_attempt_at))

    async def mark_retry(self, notification_id: int, error: str, next_attempt_at: float) -> None:
        async with self.write() as conn:
            await conn.execute(sa.update(t.notifications).where(t.notifications.c.id == notification_id).values(
                attempts=t.notifications.c.attempts + 1, last_error=error[:2000], next_attempt_at=next_attempt_at))

    async def mark_failed(self, notification_id: int, error: str) -> None:
        async with self.write() as conn:
            await conn.execute(sa.update(t.notifications).where(t.notifications.c.id == notification_id).values(
                status="failed", attempts=t.notifications.c.attempts + 1, last_error=error[:2000]))

    async def outbox_depth(self) -> int:
        async with self.engine.connect() as conn:
            n = (await conn.execute(sa.select(sa.func.count()).select_from(t.notifications)
                                    .where(t.notifications.c.status == "pending"))).scalar_one()
        return int(n)

    # -- feedback ----------------------------------------------------------------
    async def add_feedback(self, incident_id: str, cause: dict[str, Any], note: str, actor: str,
                           now: float) -> int:
        async with self.write() as conn:
            res = await conn.execute(sa.insert(t.feedback).values(
                incident_id=incident_id, cause=cause, note=note, actor=actor, created_at=now))
            key = res.inserted_primary_key
            assert key is not None
            return int(key[0])

    async def list_feedback(self, incident_id: str | None = None) -> list[dict[str, Any]]:
        q = sa.select(t.feedback).order_by(t.feedback.c.id)
        if incident_id:
            q = q.where(t.feedback.c.incident_id == incident_id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return [dict(r) for r in rows]

    # -- checkpoints and cursors ------------------------------------------------------
    async def save_checkpoint(self, key: str, state: dict[str, Any], now: float | None = None) -> None:
        now = now if now is not None else time.time()
        async with self.write() as conn:
            stmt = self._insert(t.checkpoints).values(key=key, state=state, updated_at=now)
            await conn.execute(stmt.on_conflict_do_update(index_elements=["key"],
                                                          set_={"state": state, "updated_at": now}))

    async def load_checkpoint(self, key: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(t.checkpoints.c.state).where(t.checkpoints.c.key == key))).first()
        return dict(row[0]) if row else None

    async def save_cursor(self, source: str, value: str, now: float | None = None) -> None:
        now = now if now is not None else time.time()
        async with self.write() as conn:
            stmt = self._insert(t.cursors).values(source=source, value=value, updated_at=now)
            await conn.execute(stmt.on_conflict_do_update(index_elements=["source"],
                                                          set_={"value": value, "updated_at": now}))

    async def load_cursor(self, source: str) -> str | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(t.cursors.c.value).where(t.cursors.c.source == source))).first()
        return str(row[0]) if row else None

    # -- scale-out: members, the detections log, per-series detector states -------------
    async def heartbeat(self, member: str, now: float, address: str = "") -> None:
        """Say this replica is alive (insert or refresh its row)."""
        m = t.members
        async with self.write() as conn:
            stmt = self._insert(m).values(member=member, address=address, started_at=now, heartbeat_at=now)
            await conn.execute(stmt.on_conflict_do_update(index_elements=["member"],
                                                          set_={"heartbeat_at": now, "address": address}))

    async def leave(self, member: str) -> None:
        """Remove this replica at once (a clean shutdown): the others take its series without waiting."""
        async with self.write() as conn:
            await conn.execute(sa.delete(t.members).where(t.members.c.member == member))

    async def live_members(self, since: float) -> list[str]:
        """Members whose last heartbeat is not older than ``since``, sorted."""
        q = sa.select(t.members.c.member).where(t.members.c.heartbeat_at >= since).order_by(t.members.c.member)
        async with self.engine.connect() as conn:
            return [str(r[0]) for r in (await conn.execute(q)).all()]

    async def append_detections(self, rows: Sequence[dict[str, Any]], *, member: str, now: float) -> None:
        """Append detections (``series``, ``service``, ``signal``, ``detection``) for the leader to group."""
        if not rows:
            return
        async with self.write() as conn:
            await conn.execute(sa.insert(t.detections), [dict(r, member=member, created_at=now) for r in rows])

    async def detections_after(self, after_id: int, limit: int = 1000) -> list[dict[str, Any]]:
        """Detections with an id above ``after_id``, in id order."""
        d = t.detections
        q = sa.select(d).where(d.c.id > after_id).order_by(d.c.id).limit(limit)
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(q)).mappings().all()]

    async def save_series_states(self, states: dict[str, tuple[str, dict[str, Any]]], *, member: str,
                                 now: float) -> None:
        """Checkpoint detectors per series (``key -> (signal, state)``) so any replica can resume them."""
        if not states:
            return
        st = t.series_states
        async with self.write() as conn:
            stmt = self._insert(st)
            stmt = stmt.on_conflict_do_update(index_elements=["series"], set_={
                "signal": stmt.excluded.signal, "state": stmt.excluded.state, "member": stmt.excluded.member,
                "updated_at": stmt.excluded.updated_at})
            await conn.execute(stmt, [dict(series=k, signal=sig, state=state, member=member, updated_at=now)
                                      for k, (sig, state) in states.items()])

    async def load_series_states(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """Every series' checkpointed detector: ``key -> (signal, state)``."""
        st = t.series_states
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(st.c.series, st.c.signal, st.c.state))).all()
        return {str(r[0]): (str(r[1]), dict(r[2])) for r in rows}

    # -- retention --------------------------------------------------------------------
    async def prune(self, before: float) -> dict[str, int]:
        """Delete what is older than ``before`` (resolved or merged incidents only; pending pages never).

        Every table the daemon appends to is covered, here or in the workspace's own prune;
        ``checkpoints`` and ``cursors`` hold one row per key and do not grow.
        """
        counts: dict[str, int] = {}
        async with self.write() as conn:
            for name, stmt in (
                ("changes", sa.delete(t.changes).where(t.changes.c.ts < before)),
                ("health_events", sa.delete(t.health_events).where(t.health_events.c.ts < before)),
                ("anomalies", sa.delete(t.anomalies).where(t.anomalies.c.onset < before)
                 .where(t.anomalies.c.recovered_at.is_not(None))),
                ("incidents", sa.delete(t.incidents).where(t.incidents.c.onset < before)
                 .where(t.incidents.c.state.in_(("resolved", "merged")))),  # merged: into one that goes on
                ("notifications", sa.delete(t.notifications).where(t.notifications.c.created_at < before)
                 .where(t.notifications.c.status != "pending")),
                ("receiver_refs", sa.delete(t.receiver_refs).where(t.receiver_refs.c.updated_at < before)),
                ("detections", sa.delete(t.detections).where(t.detections.c.created_at < before)),
                ("alert_inbox", sa.delete(t.alert_inbox).where(t.alert_inbox.c.received_at < before)),
                # answers about incidents that are gone (the weights learned from them are checkpointed)
                ("feedback", sa.delete(t.feedback).where(t.feedback.c.created_at < before)
                 .where(t.feedback.c.incident_id.not_in(sa.select(t.incidents.c.id)))),
                # replicas that stopped without leaving; series no replica has checkpointed since
                ("members", sa.delete(t.members).where(t.members.c.heartbeat_at < before)),
                ("series_states", sa.delete(t.series_states).where(t.series_states.c.updated_at < before)),
            ):
                counts[name] = (await conn.execute(stmt)).rowcount or 0
        return counts
