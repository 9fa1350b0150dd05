"""Per-version series of a scenario: ``metrics.csv`` rows with the optional ``labels`` column.

The scenario format's metrics file may carry a fifth column, ``labels``: empty for the
service's aggregate series (what detectors read), ``key=value`` pairs separated by ``;`` for a
split of it (``version=15``, ``config_hash=ab12``, ``flag_variant=on``). Files without the column
read as before; labelled rows are never fed to the detectors.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LabelledSample", "format_labels", "parse_labels", "read_labelled"]


@dataclass(frozen=True, slots=True)
class LabelledSample:
    """One sample of one split of a service's signal."""

    ts: float
    service: str
    signal: str
    labels: Mapping[str, str]
    value: float


def parse_labels(text: str) -> dict[str, str]:
    """``version=15;pod=checkout-7d9`` as a dict.

    >>> parse_labels("version=15; flag_variant=on")
    {'version': '15', 'flag_variant': 'on'}
    >>> parse_labels("oops")
    Traceback (most recent call last):
    ValueError: label 'oops' is not key=value
    """
    out: dict[str, str] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"label {part!r} is not key=value")
        out[key.strip()] = value.strip()
    return out


def format_labels(labels: Mapping[str, str]) -> str:
    """The ``labels`` column of a split.

    >>> format_labels({"version": "15"})
    'version=15'
    """
    return ";".join(f"{k}={v}" for k, v in sorted(labels.items()))


def read_labelled(path: Path) -> Iterator[LabelledSample]:
    """The labelled rows of a metrics file, in file order (nothing when it has no ``labels`` column).

    Raises ValueError naming the file and line of a malformed labelled row.
    """
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or len(header) < 5:
            return
        for lineno, row in enumerate(reader, 2):
            if len(row) < 5 or not row[4].strip():
                continue
            try:
                labels = parse_labels(row[4])
                value = float(row[3]) if row[3] != "" else math.nan
                yield LabelledSample(float(row[0]), row[1], row[2], labels, value)
            except ValueError as e:
                raise ValueError(f"{path}:{lineno}: {e}") from None
