"""The change log: deploys, config edits and flag flips, and the outcome a rollout reports later."""

from __future__ import annotations

import enum
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from correlators.types import Change, ChangeKind

from ..core.events import ChangeStatus
from . import tables as t
from .session import Database

__all__ = ["ChangeRepository", "StatusOutcome", "StatusUpdate"]


class StatusOutcome(enum.Enum):
    """What recording a change's outcome did (the values are what the API answers)."""

    UPDATED = "updated"      # the change now carries the outcome
    UNCHANGED = "unchanged"  # nothing new: a repeat, or a step back from complete
    UNKNOWN = "unknown"      # no change has that id; the outcome is not kept


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """The result of :meth:`ChangeRepository.update_status`: the outcome and, when updated, the change."""

    outcome: StatusOutcome
    change: Change | None = None


def change_of(r: Any) -> Change:
    """The :class:`Change` of a ``changes`` row."""
    return Change(r["id"], r["ts"], ChangeKind(r["kind"]), r["service"], r["namespace"], r["summary"],
                  r["actor"], r["attributes"] or {}, r["status"] or "", r["completed_at"])


class ChangeRepository:
    """The ``changes`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, items: Sequence[Change], *, source: str = "api",
                  received_at: float | None = None) -> list[bool]:
        """Insert changes; idempotent on id. Returns, per change, whether it was new. All or nothing."""
        now = received_at if received_at is not None else time.time()
        inserted: list[bool] = []
        async with self.db.write() as conn:
            for ch in items:
                stmt = self.db.insert(t.changes).values(
                    id=ch.id, ts=ch.ts, kind=ch.kind.value, service=ch.service, namespace=ch.namespace,
                    summary=ch.summary, actor=ch.actor, attributes=dict(ch.attributes), source=source,
                    received_at=now, status=ch.status, completed_at=ch.completed_at,
                ).on_conflict_do_nothing(index_elements=["id"])
                res = await conn.execute(stmt)
                inserted.append(res.rowcount == 1)
        return inserted

    async def find(self, since: float | None = None, until: float | None = None,
                   service: str | None = None, limit: int = 1000, offset: int = 0) -> list[Change]:
        """Changes in ``[since, until]`` (of one service when given), newest first."""
        q = sa.select(t.changes).order_by(t.changes.c.ts.desc(), t.changes.c.id).limit(limit).offset(offset)
        if since is not None:
            q = q.where(t.changes.c.ts >= since)
        if until is not None:
            q = q.where(t.changes.c.ts <= until)
        if service:
            q = q.where(t.changes.c.service == service)
        async with self.db.read() as conn:
            rows = (await conn.execute(q)).mappings().all()
        return [change_of(r) for r in rows]

    async def get(self, change_id: str) -> Change | None:
        async with self.db.read() as conn:
            row = (await conn.execute(sa.select(t.changes).where(t.changes.c.id == change_id))).mappings().first()
        return change_of(row) if row else None

    async def update_status(self, st: ChangeStatus) -> StatusUpdate:
        """Record a change's outcome (a rollout completed or failed); idempotent and monotonic."""
        c = t.changes
        async with self.db.write() as conn:
            q = sa.select(c).where(c.c.id == st.change_id)
            if self.db.dialect == "postgresql":
                q = q.with_for_update()
            row = (await conn.execute(q)).mappings().first()
            if row is None:
                return StatusUpdate(StatusOutcome.UNKNOWN)
            updated = st.applied_to(change_of(row))
            if updated is None:
                return StatusUpdate(StatusOutcome.UNCHANGED)
            await conn.execute(sa.update(c).where(c.c.id == st.change_id).values(
                status=updated.status, completed_at=updated.completed_at, attributes=dict(updated.attributes)))
        return StatusUpdate(StatusOutcome.UPDATED, updated)
