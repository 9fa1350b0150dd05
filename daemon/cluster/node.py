"""One replica of a sharded installation: membership, its shard, leadership, and the leader's intake.

Every replica detects the series of its shard and appends what it finds to the
shared store's detections log. The elected leader reads that log in order into
its engine (``Engine.add_detection``), groups, ranks and pages. The engine is
only touched from the daemon's analysis loop (:meth:`ClusterNode.on_sample`,
:meth:`ClusterNode.tick`) or between awaits, never concurrently.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from correlators.incidents import Incident, IncidentTracker

from ..core.engine import EngineOutput
from ..core.events import Sample, SampleBatch
from .detections import detection_from_json, detection_to_json
from .leader import LeaderElector
from .sharding import Shard

if TYPE_CHECKING:
    from ..core.engine import Engine
    from ..store import Store

__all__ = ["DETECTIONS_CURSOR", "ClusterNode"]

log = logging.getLogger("whatchanged.cluster")

DETECTIONS_CURSOR = "cluster/detections"
_OVERLAP = 100  # ids re-read below the cursor: PostgreSQL may commit a lower id after a higher one


class ClusterNode:
    """This replica's part in the cluster.

    Parameters
    ----------
    store
        The shared store (PostgreSQL).
    member
        This replica's id, its ordinal as text.
    elector
        Campaigns for leadership.
    heartbeat, member_ttl
        Heartbeat period; a member silent for ``member_ttl`` is dead and its series move.
    """

    def __init__(self, store: Store, *, member: str, elector: LeaderElector, heartbeat: float = 2.0,
                 member_ttl: float = 10.0, address: str = "", clock: Callable[[], float] = time.time,
                 sync_changes_every: float = 5.0) -> None:
        self.store = store
        self.member = member
        self.elector = elector
        self.heartbeat = heartbeat
        self.member_ttl = member_ttl
        self.address = address
        self.clock = clock
        self.sync_changes_every = sync_changes_every
        self.shard = Shard(member, frozenset({member}))
        self.leading = asyncio.Event()
        self._engine: Engine | None = None
        self._led = False
        self._cursor = 0
        self._floor = 0
        self._seen: set[int] = set()
        self._changes_synced = float("-inf")

    def attach(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("ClusterNode.attach(engine) first")
        return self._engine

    # -- membership and shards -------------------------------------------------------
    def owns(self, key: str) -> bool:
        return self.shard.owns(key)

    def may_page(self) -> bool:
        """Only the leader pages, and only while it still leads."""
        return self.leading.is_set()

    async def join(self) -> None:
        """Announce this replica and take its shard (warm, from the per-series checkpoints)."""
        await self._beat()

    async def _beat(self) -> None:
        now = self.clock()
        await self.store.members.heartbeat(self.member, now, self.address)
        live = frozenset(await self.store.members.live(now - self.member_ttl)) | {self.member}
        if live != self.shard.members:
            await self._reshard(Shard(self.member, live))

    async def _reshard(self, new: Shard) -> None:
        engine = self.engine
        leaving = [k for k in engine.series_keys() if not new.owns(k)]
        if leaving:  # hand them over warm: the new owners load these states
            await self.store.series_states.save({k: engine.series_state(k) for k in leaving},
                                                member=self.member, now=self.clock())
        saved = await self.store.series_states.load()
        old, self.shard = self.shard, new
        for k in leaving:
            engine.drop_series(k)
        have = set(engine.series_keys())
        taken = 0
        for key, (signal, state) in saved.items():
            if key not in have and new.owns(key):
                try:
                    engine.load_series(key, signal, state)
                    taken += 1
                except (ValueError, KeyError, TypeError) as e:
                    log.warning("series %s: unusable checkpoint (%s); it warms up again", key, e)
        log.info("members %s -> %s: %d series handed over, %d taken over warm, %d watched here",
                 sorted(old.members), sorted(new.members), len(leaving), taken, engine.series_count)

    async def checkpoint(self) -> None:
        engine = self.engine
        await self.store.series_states.save({k: engine.series_state(k) for k in engine.series_keys()},
                                            member=self.member, now=self.clock())

    async def leave(self) -> None:
        """On a clean stop: checkpoint this shard and leave, so the others take over at once."""
        self.leading.clear()
        await self.checkpoint()
        await self.store.members.leave(self.member)

    async def run(self) -> None:
        """Heartbeat and campaign until cancelled."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.elector.campaign(self.leading), name="leader-election")
            while True:
                await asyncio.sleep(self.heartbeat)
                try:
                    await self._beat()
                except Exception as e:
                    log.warning("heartbeat failed: %s", e)

    # -- the analysis loop's hooks ------------------------------------------------------
    async def on_sample(self, s: Sample) -> bool:
        """Detect on a sample of this shard and log what is found; False if another replica owns it."""
        if not self.shard.owns(s.key):
            return False
        found = self.engine.detect(s)
        if found is not None:
            await self.store.detections.append(
                [{"series": s.key, "service": s.service, "signal": s.signal, "detection": detection_to_json(found)}],
                member=self.member, now=self.clock())
        return True

    async def on_batch(self, b: SampleBatch) -> int:
        """Detect on the samples of this shard in a step; log what is found. Returns how many were ours."""
        owns = self.shard.owns
        mine = [i for i, key in enumerate(b.keys) if owns(key)]
        if not mine:
            return 0
        if len(mine) < len(b):
            b = SampleBatch(b.ts, b.signal, tuple(b.services[i] for i in mine), tuple(b.keys[i] for i in mine),
                            tuple(b.values[i] for i in mine))
        found = self.engine.detect_batch(b)
        if found:
            await self.store.detections.append(
                [{"series": b.keys[i], "service": b.services[i], "signal": b.signal,
                  "detection": detection_to_json(d)} for i, d in found],
                member=self.member, now=self.clock())
        return len(b)

    async def tick(self, persist: Callable[[EngineOutput], Awaitable[None]]) -> None:
        """Follow leadership; while leading, take the replicas' detections into the incidents."""
        leading = self.leading.is_set()
        if leading and not self._led:
            await self._become_leader()
        elif not leading and self._led:
            self._step_down()
        if not self._led:
            return
        out = EngineOutput()
        engine = self.engine
        now = self.clock()
        if now - self._changes_synced >= self.sync_changes_every:  # changes posted to any replica
            self._changes_synced = now
            for ch in await self.store.changes.find(since=engine.now - engine.change_retention, limit=10_000):
                out.extend(engine.add_change(ch))
        rows = await self.store.detections.after(max(self._floor, self._cursor - _OVERLAP))
        before = self._cursor
        for row in rows:
            if row["id"] in self._seen:
                continue
            self._seen.add(row["id"])
            self._cursor = max(self._cursor, row["id"])
            d = detection_from_json(row["detection"])
            if self._known(row["series"], d.onset, d.kind.value):
                continue
            out.extend(engine.add_detection(row["service"], row["signal"], row["series"], d))
        out.extend(engine.flush())
        if out.pages or out.incidents or out.health:
            await persist(out)
        if self._cursor > before:
            await self.store.cursors.save(DETECTIONS_CURSOR, str(self._cursor), now=self.clock())
            self._seen = {i for i in self._seen if i > self._cursor - 2 * _OVERLAP}

    def _known(self, series: str, onset: float, kind: str) -> bool:
        """A shift already in an incident (the log is re-read after a leader change)."""
        if kind != "shift":
            return False
        return any(a.key == series and abs(a.onset - onset) < 1e-6
                   for inc in self.engine.incidents.values() for a in inc.anomalies)

    async def _become_leader(self) -> None:
        engine = self.engine
        engine.tracker = IncidentTracker(engine.topology, engine.tracker.policy)
        for doc in await self.store.incidents.find(state="open", limit=500):
            engine.tracker.restore(Incident.from_json(doc))
        raw = await self.store.cursors.load(DETECTIONS_CURSOR)
        self._cursor = self._floor = int(raw) if raw else 0
        self._seen = set()
        self._changes_synced = float("-inf")
        self._led = True
        log.info("leading: %d open incidents restored, detections from #%d",
                 len(list(engine.tracker.open_incidents())), self._cursor)

    def _step_down(self) -> None:
        engine = self.engine
        engine.tracker = IncidentTracker(engine.topology, engine.tracker.policy)
        self._led = False
        log.warning("not leading any more: incidents left to the new leader")

    def status(self) -> dict[str, object]:
        return {"member": self.member, "leader": self.leading.is_set(), "members": sorted(self.shard.members),
                "series": sorted(self.engine.series_keys())}

