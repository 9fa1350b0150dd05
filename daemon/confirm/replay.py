"""Confirm tests in replay: a runner over the scenario's per-version series (when it has any)."""

from __future__ import annotations

from typing import Any

from .labelled import LabelledSample
from .runner import ConfirmRunner
from .source import SeriesConfirmSource

__all__ = ["confirm_runner"]


def confirm_runner(scenario: Any) -> ConfirmRunner | None:
    """The runner of a scenario folder's confirm tests; None for a replayable without a
    ``labelled()`` method (a backtest's window, a wrapper). A scenario without labelled rows still
    gets a runner: its tests say there is no per-version series, and rank nothing differently."""
    inner = getattr(scenario, "inner", scenario)  # InSteps wraps the scenario
    labelled = getattr(inner, "labelled", None)
    if labelled is None:
        return None
    rows: list[LabelledSample] = list(labelled())
    return ConfirmRunner(SeriesConfirmSource(rows, inner.step), inner.topology, inner.step)
