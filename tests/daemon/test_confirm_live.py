"""Confirm tests live: the runner queues what is due, a task fetches and judges it off the event loop,
the engine re-ranks at its next flush and the page is updated; a slow source makes an inconclusive test."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from correlators.confirm import ConfirmData, ConfirmPlan, Verdict
from correlators.incidents import PageKind
from daemon.confirm.live import LiveConfirm
from daemon.confirm.runner import ConfirmRunner
from daemon.confirm.source import SeriesConfirmSource
from daemon.core.engine import Engine
from daemon.core.policy import policy
from daemon.demo.scenario import ScenarioSpec, write_scenario
from daemon.sources.scenario import load_scenario


class Later:
    """The scenario's series, answered asynchronously (as Prometheus would be)."""

    def __init__(self, inner: SeriesConfirmSource, delay: float = 0.0) -> None:
        self.inner, self.delay, self.calls = inner, delay, 0

    async def fetch(self, plan: ConfirmPlan, until: float) -> ConfirmData:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return self.inner.fetch(plan, until)


def _setup(tmp_path: Path, delay: float = 0.0) -> tuple[Engine, ConfirmRunner, LiveConfirm, Later, Path]:
    path = tmp_path / "sc"
    write_scenario(path, 11, ["bad_deploy"], hours=1.0, step=30.0, spec=ScenarioSpec(versions=True, decoys=4))
    sc = load_scenario(path)
    runner = ConfirmRunner(None, sc.topology, sc.step)
    source = Later(SeriesConfirmSource(sc.labelled(), sc.step), delay)
    live = LiveConfirm(runner, source, step=sc.step, timeout=0.05)
    pol = policy(None, sc.step)
    return Engine(sc.topology, grouping=pol.grouping, ranking=pol.ranking, confirm=runner), runner, live, source, path


async def test_queued_tests_are_fetched_by_the_task_and_update_the_page(tmp_path: Path) -> None:
    engine, runner, live, source, path = _setup(tmp_path)
    truth = json.loads((path / "truth.json").read_text())["incidents"][0]["cause"]
    pages = []
    for ev in load_scenario(path).events():
        out = engine.ingest(ev)
        pages += out.pages
        for due in runner.take(4):
            await live.run_one(due)
    pages += engine.flush().pages
    [inc] = [i for i in engine.incidents.values() if i.paged_at is not None]
    assert inc.ranking is not None and inc.ranking.top is not None
    assert inc.ranking.top.cause.to_json() == truth
    verdicts = {t.cause.to_json().get("id"): t.verdict for t in inc.ranking.tests}
    assert verdicts[truth["id"]] is Verdict.CONFIRMED
    assert any(p.kind is PageKind.UPDATE and p.reason == "a confirm test decided" for p in pages)
    assert source.calls <= runner.policy.max_queries


async def test_the_engine_never_fetches_and_a_slow_source_is_inconclusive(tmp_path: Path) -> None:
    engine, runner, live, source, path = _setup(tmp_path, delay=1.0)
    for ev in load_scenario(path).events():
        engine.ingest(ev)
        if runner.take(1):
            break
    assert source.calls == 0, "the engine only queues: fetching is the task's, off the analysis loop"
    [due] = runner.take(1)
    await live.run_one(due)
    [result] = runner.results(due.incident)
    assert result.verdict is Verdict.INCONCLUSIVE and "did not answer within 0.05 s" in result.reason


async def test_a_failing_source_makes_an_inconclusive_test_and_the_task_goes_on(tmp_path: Path) -> None:
    engine, runner, live, source, path = _setup(tmp_path)

    class Broken:
        async def fetch(self, plan: ConfirmPlan, until: float) -> ConfirmData:
            raise ConnectionError("prometheus unreachable")
    live.source = Broken()
    for ev in load_scenario(path).events():
        engine.ingest(ev)
        if runner.take(1):
            break
    task = asyncio.create_task(live.run())
    try:
        for _ in range(100):
            if any(runner.results(i) for i in engine.incidents):
                break
            await asyncio.sleep(0.01)
        assert not task.done(), "the task keeps running"
    finally:
        task.cancel()
    [result] = [r for i in engine.incidents for r in runner.results(i)][:1]
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.reason == "the queries failed: ConnectionError: prometheus unreachable"
