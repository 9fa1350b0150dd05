"""Confirm tests live: fetch and judge the queued tests off the event loop, bounded in time.

The engine's :class:`~daemon.confirm.runner.ConfirmRunner` (without a source) queues the tests
that are due; this task takes a few at a time, awaits their queries (the blocking client runs in
a thread), judges in a thread, and hands each outcome back; the analysis loop re-ranks the
incident at its next flush and updates the page. A query that does not answer within
``timeout`` makes an inconclusive test that says so.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from correlators.confirm import ConfirmData, ConfirmPlan, JudgePolicy, Verdict, judge

from .runner import ConfirmRunner, Due

__all__ = ["AsyncConfirmSource", "LiveConfirm"]

log = logging.getLogger("whatchanged.confirm")


class AsyncConfirmSource(Protocol):
    async def fetch(self, plan: ConfirmPlan, until: float) -> ConfirmData: ...


class LiveConfirm:
    """The live runner's task (one per daemon)."""

    def __init__(self, runner: ConfirmRunner, source: AsyncConfirmSource, *, step: float, timeout: float = 10.0,
                 concurrency: int = 2, poll: float = 0.5) -> None:
        self.runner = runner
        self.source = source
        self.step = step
        self.timeout = timeout
        self.concurrency = concurrency
        self.poll = poll
        self.judge_policy: JudgePolicy = runner.policy.judge

    async def run(self) -> None:
        """Run until cancelled."""
        while True:
            due = self.runner.take(self.concurrency)
            if not due:
                await asyncio.sleep(self.poll)
                continue
            for d, outcome in zip(due, await asyncio.gather(*(self.run_one(d) for d in due), return_exceptions=True),
                                  strict=True):
                if isinstance(outcome, Exception):  # never take the daemon down: drop the test, say why
                    log.error("confirm test of %s failed to run: %s", d.plan.cause.key, outcome, exc_info=outcome)
                    self.runner.record(d, judge(d.plan, ConfirmData("", self.step, missing=f"the test failed to run: "
                                                                     f"{type(outcome).__name__}"), d.until))

    async def run_one(self, due: Due) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                data = await self.source.fetch(due.plan, due.until)
        except TimeoutError:
            data = ConfirmData("", self.step, missing=f"the queries did not answer within {self.timeout:g} s")
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a failed query is an inconclusive test, never a crash
            log.warning("confirm test of %s failed: %s", due.plan.cause.key, e)
            data = ConfirmData("", self.step, missing=f"the queries failed: {type(e).__name__}: {str(e)[:200]}")
        result = await asyncio.to_thread(judge, due.plan, data, due.until, self.judge_policy, due.look)
        # A decided test, and the first look at each, at info; a test still waiting for data at debug
        # (it is looked at again every step until it decides or the budget runs out).
        level = logging.INFO if result.verdict is not Verdict.INCONCLUSIVE or due.look <= 1 else logging.DEBUG
        log.log(level, "confirm test of %s for incident %s (look %d): %s", due.plan.cause.key, due.incident,
                due.look, result.line[:300], extra={"incident_id": due.incident})
        self.runner.record(due, result)
