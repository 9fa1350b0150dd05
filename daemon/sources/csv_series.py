"""``timestamp,value`` CSV files (the Numenta Anomaly Benchmark format): read as one series each,
scored online by the detectors, and written back with an ``anomaly_score`` column.

Each score is computed online by :class:`detectors.Ensemble` (or the paging detector): a row's
score depends on that row and the rows before it only, and every file gets the same settings.
``whatchanged detect`` (:mod:`daemon.cli.detect`) and the NAB benchmark run these.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from detectors import Ensemble, EventKind, make_detector

__all__ = ["DETECTORS", "DetectError", "read_series", "score_file", "score_series", "write_scores"]


class DetectError(Exception):
    """Bad input, with a one-line message naming the file, row and field."""


def _parse_time(text: str, where: str) -> float:
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise DetectError(f"{where}: field 'timestamp': cannot parse {text!r} as a time") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def read_series(path: Path) -> tuple[list[list[str]], list[float], list[float]]:
    """The raw rows, timestamps (Unix seconds) and values of one file; an empty value is a gap (NaN)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DetectError(f"{path}: cannot read: {exc}") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise DetectError(f"{path}: empty file, expected a header 'timestamp,value'")
    names = [h.strip() for h in header]
    if "timestamp" not in names or "value" not in names:
        raise DetectError(f"{path}: row 1: header must name 'timestamp' and 'value', got {','.join(header)!r}")
    it, iv = names.index("timestamp"), names.index("value")
    rows: list[list[str]] = []
    stamps: list[float] = []
    values: list[float] = []
    for number, row in enumerate(reader, start=2):
        if not row:
            continue
        where = f"{path}: row {number}"
        if len(row) <= max(it, iv):
            raise DetectError(f"{where}: expected {len(header)} fields, got {len(row)}")
        stamps.append(_parse_time(row[it], where))
        raw = row[iv].strip()
        try:
            values.append(float(raw) if raw else math.nan)
        except ValueError:
            raise DetectError(f"{where}: field 'value': {raw!r} is not a number") from None
        rows.append([row[it], row[iv]])
    return rows, stamps, values


DETECTORS = ("ensemble", "paging")
"""``ensemble``: the calibrated anomaly score (NAB's task). ``paging``: the detector the daemon pages
with (``make_detector``): a shift's confidence where it reports one, 0 elsewhere."""


def score_series(stamps: Sequence[float], values: Sequence[float], detector: str = "ensemble") -> list[float]:
    """Online anomaly scores in [0, 1], one per sample, from one fresh detector."""
    scores: list[float] = []
    if detector == "paging":
        paging = make_detector("value")
        for ts, value in zip(stamps, values, strict=False):
            found = paging.update(ts, value)
            scores.append(found.confidence if found is not None and found.kind is EventKind.SHIFT else 0.0)
        return scores
    ensemble = Ensemble()
    for ts, value in zip(stamps, values, strict=False):
        ensemble.update(ts, value)
        scores.append(ensemble.score)
    return scores


def write_scores(out: TextIO, rows: list[list[str]], scores: list[float]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["timestamp", "value", "anomaly_score"])
    for (ts, value), score in zip(rows, scores, strict=True):
        writer.writerow([ts, value, f"{score:.10g}"])


def score_file(path: Path, out_path: Path, detector: str = "ensemble") -> None:
    """Score one file into ``out_path`` (the unit of work of a parallel run)."""
    rows, stamps, values = read_series(path)
    scores = score_series(stamps, values, detector)
    with open(out_path, "w", encoding="utf-8", newline="") as fh:
        write_scores(fh, rows, scores)
