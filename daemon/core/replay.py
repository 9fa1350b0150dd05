"""Replay: events of a scenario folder or a window of history through the live core, as fast as the CPU allows.

``whatchanged replay`` (:mod:`daemon.cli.replay`) and the backtest call :func:`replay`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from correlators.types import Topology

from .engine import Engine
from .events import Event, Sample, batched
from .policy import policy
from .ranker import Confirmer

__all__ = ["Confirmable", "InSteps", "Replayable", "replay"]

log = logging.getLogger("whatchanged.replay")


class Replayable(Protocol):
    """A scenario folder, or a window of history (:mod:`daemon.runtime.backtest`)."""

    @property
    def name(self) -> str: ...
    @property
    def step(self) -> float: ...
    @property
    def topology(self) -> Topology: ...
    def events(self) -> Iterator[Event]: ...


@runtime_checkable
class Confirmable(Protocol):
    """A replayable that can run its incidents' confirm tests (a scenario folder with per-version series)."""

    def confirm_runner(self) -> Confirmer | None: ...


@dataclass(frozen=True)
class InSteps:
    """A replayable whose samples come as the Prometheus source hands them over: per timestamp,
    its other events first, then one ``SampleBatch`` per signal (the engine's batch path)."""

    inner: Replayable

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def step(self) -> float:
        return self.inner.step

    @property
    def topology(self) -> Topology:
        return self.inner.topology

    def confirm_runner(self) -> Confirmer | None:
        return self.inner.confirm_runner() if isinstance(self.inner, Confirmable) else None

    def events(self) -> Iterator[Event]:
        now: float | None = None
        others: list[Event] = []
        samples: dict[str, list[Event]] = {}
        for ev in self.inner.events():
            if ev.ts != now:
                yield from batched(others + [s for evs in samples.values() for s in evs])
                now, others, samples = ev.ts, [], {}
            if isinstance(ev, Sample):
                samples.setdefault(ev.signal, []).append(ev)
            else:
                others.append(ev)
        yield from batched(others + [s for evs in samples.values() for s in evs])


def replay(scenario: Replayable, engine: Engine | None = None, *, confirm: bool = True) -> dict[str, Any]:
    """Feed every event of ``scenario`` to an engine; return the replay document.

    With ``confirm`` (and a scenario that carries per-version series), the top candidates'
    confirm tests run on those series and re-rank each incident (:mod:`daemon.confirm`): the
    scenario hands over its runner (:class:`Confirmable`).
    """
    pol = policy(None, scenario.step)
    runner = scenario.confirm_runner() if confirm and isinstance(scenario, Confirmable) else None
    engine = engine or Engine(scenario.topology, grouping=pol.grouping, ranking=pol.ranking, confirm=runner)
    events = 0
    for ev in scenario.events():
        events += 1
        out = engine.ingest(ev)
        for page in out.pages:
            log.info("page %s %s at %.0f: %s", page.kind.value, page.incident_id, page.ts, page.reason)
    for page in engine.flush().pages:
        log.info("page %s %s at %.0f: %s", page.kind.value, page.incident_id, page.ts, page.reason)
    incidents = []
    for inc in sorted(engine.incidents.values(), key=lambda i: (i.onset, i.id)):
        if inc.merged_into is not None and inc.paged_at is None:
            continue  # a fragment joined into another incident before it paged: not an incident of its own
        doc = inc.to_json()
        incidents.append(doc)
    log.info("replayed %s: %d events, %d incidents, %d paged", scenario.name, events, len(incidents),
             sum(1 for i in incidents if i["paged_at"] is not None))
    return {"scenario": scenario.name, "incidents": incidents}
