"""Does river's HalfSpaceTrees score incident onsets above quiet stretches on the dev scenarios?

Run: ``.venv/bin/python tests/benchmarks/scorers.py [SCENARIO_DIR ...]``

``HalfSpaceTreesScorer`` is a per-sample scorer, not a change detector, so it has no SHIFT
for ``dev_scenarios.py`` to count. Here each (scenario, service) gets the maximum score
over its three signals:

- positives: for each truth (incident, service), the highest score in the 10 samples
  from the true onset;
- negatives: in the quiet scenarios (no incident), the highest score in each
  non-overlapping 10-sample stretch of each service, after the first 270 samples (the
  scorer's warm-up and first window).

Reported: ROC AUC (the chance that a random positive outscores a random negative) and
the recall at the score that the top 1% of negative stretches reach. The same is done
for the plainest scorer, ``|z|`` against the median and MAD of each series' first 20
samples (the scale the trees see), to tell what the trees add.
"""

from __future__ import annotations

import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from detectors import HalfSpaceTreesScorer

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = ROOT.parent / "shared" / "scenarios" / "dev"
if not DEFAULT_DIR.exists():
    DEFAULT_DIR = Path("/work/shared/scenarios/dev")
SPAN = 10
SKIP = 270


class AbsZ:
    """|z| against the median and MAD of the first 20 samples."""

    def __init__(self) -> None:
        self.first: list[float] = []
        self.scale: tuple[float, float] | None = None

    def score(self, ts: float, value: float) -> float | None:
        if self.scale is None:
            self.first.append(value)
            if len(self.first) == 20:
                level = float(np.median(self.first))
                mad = 1.4826 * float(np.median(np.abs(np.array(self.first) - level)))
                self.scale = (level, max(mad, 0.05 * abs(level), 1e-9))
            return None
        return abs(value - self.scale[0]) / self.scale[1]


def scores_of(folder: Path, make: type) -> tuple[list[float], dict[str, np.ndarray]]:
    """Per service: the max score over its signals at each timestamp."""
    scorers: dict[tuple[str, str], object] = {}
    per: dict[str, dict[float, float]] = defaultdict(dict)
    with open(folder / "metrics.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            key = (row["service"], row["signal"])
            scorer = scorers.setdefault(key, make())
            ts = float(row["timestamp"])
            s = scorer.score(ts, float(row["value"]))  # type: ignore[attr-defined]
            if s is not None:
                cell = per[row["service"]]
                cell[ts] = max(cell.get(ts, -np.inf), s)
    times = sorted({t for cells in per.values() for t in cells})
    return times, {svc: np.array([cells.get(t, -np.inf) for t in times]) for svc, cells in per.items()}


def auc(pos: list[float], neg: list[float]) -> float:
    p, n = np.asarray(pos), np.asarray(neg)
    greater = (p[:, None] > n[None, :]).sum() + 0.5 * (p[:, None] == n[None, :]).sum()
    return float(greater / (len(p) * len(n)))


def main(argv: list[str]) -> int:
    folders = [Path(a) for a in argv] or sorted(p for p in DEFAULT_DIR.iterdir() if p.is_dir())
    for name, make in (("HalfSpaceTreesScorer", HalfSpaceTreesScorer), ("|z| (first 20 samples)", AbsZ)):
        pos: list[float] = []
        neg: list[float] = []
        for folder in folders:
            truth = json.loads((folder / "truth.json").read_text())["incidents"]
            times, per = scores_of(folder, make)
            t = np.asarray(times)
            if not truth:
                for series in per.values():
                    body = series[SKIP:]
                    for k in range(0, len(body) - SPAN + 1, SPAN):
                        neg.append(float(body[k:k + SPAN].max()))
                continue
            for inc in truth:
                onset = float(inc["onset"])
                for svc in inc["services"]:
                    if svc in per:
                        window = per[svc][(t >= onset)][:SPAN]
                        pos.append(float(window.max()) if len(window) else -np.inf)
        cut = float(np.quantile(neg, 0.99))
        recall = sum(p > cut for p in pos) / len(pos)
        print(f"{name:24} positives {len(pos):3d}  negatives {len(neg):4d}  AUC {auc(pos, neg):.3f}  "
              f"recall at the top-1% quiet score {recall:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
