"""Read a scenario folder (``shared/scenario-format.md``) into time-ordered events."""

from __future__ import annotations

import csv
import heapq
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from correlators.types import Change, ServiceInfo, Topology

from ..confirm.labelled import LabelledSample, read_labelled
from ..confirm.replay import confirm_runner
from ..core.events import Event, ProbeResult, Sample
from ..core.ranker import Confirmer
from ..core.schema import InputError, parse_change

__all__ = ["Scenario", "ScenarioError", "load_scenario"]


class ScenarioError(Exception):
    """A scenario folder that cannot be read; the message names the file, line and field."""


@dataclass(frozen=True)
class Scenario:
    path: Path
    name: str
    step: float
    start: float
    end: float
    topology: Topology
    dependencies: tuple[str, ...]

    def changes(self) -> list[Change]:
        path = self.path / "changes.jsonl"
        if not path.exists():
            return []
        out: list[Change] = []
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ScenarioError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
                try:
                    out.append(parse_change(data))
                except InputError as e:
                    raise ScenarioError(f"{path}:{lineno}: field {e.field}: {e.message}") from None
        return out

    def samples(self) -> Iterator[Sample]:
        path = self.path / "metrics.csv"
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None or [h.strip() for h in header[:4]] != ["timestamp", "service", "signal", "value"]:
                raise ScenarioError(f"{path}:1: expected header timestamp,service,signal,value")
            for lineno, row in enumerate(reader, 2):
                if not row:
                    continue
                if len(row) > 4 and row[4].strip():
                    continue  # a per-version series (labels column): confirm tests read it, detectors do not
                try:
                    ts, value = float(row[0]), float(row[3]) if row[3] != "" else math.nan
                except (ValueError, IndexError):
                    raise ScenarioError(f"{path}:{lineno}: expected numeric timestamp and value, got {row!r}") from None
                yield Sample(ts, row[1], row[2], value)

    def labelled(self) -> Iterator[LabelledSample]:
        """The per-version series: rows of ``metrics.csv`` whose optional ``labels`` column is set
        (``version=15``, ``config_hash=ab12``, ``flag_variant=on``; ``;`` between several)."""
        return read_labelled(self.path / "metrics.csv")

    def confirm_runner(self) -> Confirmer | None:
        """The runner of this scenario's confirm tests over its per-version series (replay's hook)."""
        return confirm_runner(self)

    def probes(self) -> Iterator[ProbeResult]:
        path = self.path / "health.csv"
        if not path.exists():
            return
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            next(reader, None)
            for lineno, row in enumerate(reader, 2):
                if not row:
                    continue
                try:
                    yield ProbeResult(float(row[0]), row[1], row[2].strip() in ("1", "true", "True"))
                except (ValueError, IndexError):
                    raise ScenarioError(f"{path}:{lineno}: expected timestamp,target,healthy, got {row!r}") from None

    def events(self) -> Iterator[Event]:
        """Every event in timestamp order; at equal timestamps changes and probes come before samples."""
        changes = sorted(self.changes(), key=lambda c: c.ts)
        streams: list[Iterator[tuple[float, int, int, Event]]] = [
            ((c.ts, 0, i, c) for i, c in enumerate(changes)),
            ((p.ts, 1, i, p) for i, p in enumerate(self.probes())),
            ((s.ts, 2, i, s) for i, s in enumerate(self.samples())),
        ]
        for _, _, _, ev in heapq.merge(*streams, key=lambda t: (t[0], t[1], t[2])):
            yield ev


def _require(data: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in data:
        raise ScenarioError(f"{where}: missing field {key!r}")
    if not isinstance(data[key], kind):
        raise ScenarioError(f"{where}: field {key!r} has the wrong type")
    return data[key]


def load_scenario(path: str | Path) -> Scenario:
    root = Path(path)
    meta_path = root / "scenario.json"
    if not root.is_dir():
        raise ScenarioError(f"{root}: not a folder (expected a scenario folder with scenario.json)")
    if not meta_path.exists():
        raise ScenarioError(f"{meta_path}: missing (a scenario folder needs scenario.json)")
    if not (root / "metrics.csv").exists():
        raise ScenarioError(f"{root / 'metrics.csv'}: missing")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ScenarioError(f"{meta_path}:{e.lineno}: not valid JSON ({e.msg})") from None
    except UnicodeDecodeError as e:
        raise ScenarioError(f"{meta_path}: not UTF-8 text (byte {e.start})") from None
    where = str(meta_path)
    if not isinstance(meta, dict):
        raise ScenarioError(f"{where}: expected a JSON object")
    services = []
    for i, s in enumerate(_require(meta, "services", list, where)):
        w = f"{where}: services.{i}"
        if not isinstance(s, dict):
            raise ScenarioError(f"{w}: expected an object")
        services.append(ServiceInfo(
            name=str(_require(s, "name", str, w)), namespace=str(s.get("namespace", "")),
            calls=_names(s, "calls", w), dependencies=_names(s, "dependencies", w),
        ))
    step = _require(meta, "step_seconds", (int, float), where)
    if isinstance(step, bool) or not math.isfinite(step) or step <= 0:
        raise ScenarioError(f"{where}: field 'step_seconds' must be a positive number")
    return Scenario(
        path=root, name=str(meta.get("name", root.name)), step=float(step),
        start=_number(meta, "start", where), end=_number(meta, "end", where),
        topology=Topology.from_services(services),
        dependencies=_names(meta, "dependencies", where),
    )


def _names(data: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise ScenarioError(f"{where}: field {key!r} must be a list of names")
    return tuple(value)


def _number(data: dict[str, Any], key: str, where: str) -> float:
    value = data.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ScenarioError(f"{where}: field {key!r} must be a number (Unix seconds)")
    return float(value)
