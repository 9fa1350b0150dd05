"""Scale-out membership: which replicas are alive, by heartbeat."""

from __future__ import annotations

import sqlalchemy as sa

from . import tables as t
from .session import Database

__all__ = ["MemberRepository"]


class MemberRepository:
    """The ``members`` table: one row per replica, refreshed by its heartbeat."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def heartbeat(self, member: str, now: float, address: str = "") -> None:
        """Say this replica is alive (insert or refresh its row)."""
        m = t.members
        async with self.db.write() as conn:
            stmt = self.db.insert(m).values(member=member, address=address, started_at=now, heartbeat_at=now)
            await conn.execute(stmt.on_conflict_do_update(index_elements=["member"],
                                                          set_={"heartbeat_at": now, "address": address}))

    async def leave(self, member: str) -> None:
        """Remove this replica at once (a clean shutdown): the others take its series without waiting."""
        async with self.db.write() as conn:
            await conn.execute(sa.delete(t.members).where(t.members.c.member == member))

    async def live(self, since: float) -> list[str]:
        """Members whose last heartbeat is not older than ``since``, sorted."""
        q = sa.select(t.members.c.member).where(t.members.c.heartbeat_at >= since).order_by(t.members.c.member)
        async with self.db.read() as conn:
            return [str(r[0]) for r in (await conn.execute(q)).all()]
