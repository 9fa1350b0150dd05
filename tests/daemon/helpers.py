"""Builders shared by the daemon tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

from correlators.types import ServiceInfo, Topology
from daemon.core.events import Event, ProbeResult, Sample
from daemon.notify.types import Page

SHOP = Topology.from_services([
    ServiceInfo("frontend", "shop", calls=("checkout", "search")),
    ServiceInfo("checkout", "shop", calls=("payments",), dependencies=("payments-gateway",)),
    ServiceInfo("payments", "shop", dependencies=("payments-gateway",)),
    ServiceInfo("search", "shop", dependencies=("search-db",)),
])


class FakeClock:
    def __init__(self, now: float = 1_796_000_000.0) -> None:  # 2026-11-30, after every example payload
        self.now = now

    def __call__(self) -> float:
        return self.now


class RecordingNotifier:
    """A receiver that records what it accepted; can be told to fail first."""

    def __init__(self, name: str = "rec", fail_with: list[Exception] | None = None) -> None:
        self.name = name
        self.pages: list[tuple[str, Page]] = []
        self.fail_with = list(fail_with or [])

    async def send(self, page: Page, *, key: str) -> None:
        if self.fail_with:
            raise self.fail_with.pop(0)
        self.pages.append((key, page))


def shop_events(start: float, steps: int, step: float = 30.0, *, bad_from: int | None = None,
                bad_until: int | None = None, bad_service: str = "checkout") -> list[Event]:
    """A quiet shop; optionally ``bad_service`` and its caller frontend fail from step ``bad_from``."""
    import random
    rng = random.Random(42)
    out: list[Event] = []
    for k in range(steps):
        ts = start + k * step
        bad = bad_from is not None and k >= bad_from and (bad_until is None or k < bad_until)
        for svc in ("frontend", "checkout", "payments", "search"):
            err = 0.005 * (1 + 0.2 * rng.uniform(-1, 1))
            if bad and svc in (bad_service, "frontend"):
                err = 0.12 * (1 + 0.1 * rng.uniform(-1, 1))
            out.append(Sample(ts, svc, "error_ratio", err))
            out.append(Sample(ts, svc, "request_rate", 100 * (1 + 0.05 * rng.uniform(-1, 1))))
        out.append(ProbeResult(ts, "payments-gateway", True))
    return out


class ListSource:
    def __init__(self, events: Iterable[Event], name: str = "list") -> None:
        self.name = name
        self._events = list(events)

    async def events(self) -> AsyncIterator[Event]:
        """Yield the events once, then wait like a live source with nothing new."""
        for ev in self._events:
            yield ev
        await asyncio.Event().wait()
