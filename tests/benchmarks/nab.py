"""Numenta Anomaly Benchmark: run ``whatchanged detect`` over the corpus, score it, compare.

Run: ``.venv/bin/python tests/benchmarks/nab.py [--nab DIR] [--keep DIR]``

The detector sees each file alone, online, with the same settings (``daemon.cli.detect``);
the labels are read only here, for scoring (``nab_scoring``). Prints the three profiles'
normalised scores beside NAB's published scoreboard, the corpus run time, and per
file what was missed, to show where we lose.
"""

from __future__ import annotations

import argparse
import csv
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nab_scoring import PROFILES, corpus_score, load_corpus, row_weights

from daemon.cli import detect

DEFAULT_NAB = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "nab"
PUBLISHED = [  # NAB scoreboard (standard, reward_low_FP_rate, reward_low_FN_rate)
    ("ARTime", 74.85, 65.15, 80.36),
    ("Numenta HTM", 70.10, 63.12, 74.32),
    ("contextOSE", 69.90, 66.98, 73.18),
    ("windowedGaussian", 39.65, None, None),
    ("Bayesian changepoint", 17.7, None, None),
]


def run_detect(nab: Path, out: Path, jobs: int | None, detector: str = "ensemble") -> tuple[float, float]:
    """Score every file with ``daemon.cli.detect.score_file`` (what ``whatchanged detect`` runs per file),
    in ``jobs`` processes as ``whatchanged detect --jobs`` does; return (wall, CPU) seconds."""
    files = sorted((nab / "data").glob("*/*.csv"))
    start, cpu = time.perf_counter(), _children_cpu()
    # One output folder per category: file names are unique only within one.
    for category in sorted({f.parent.name for f in files}):
        (out / category).mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=jobs or detect.available_cpus()) as pool:
        for future in [pool.submit(detect.score_file, f, out / f.parent.name / f.name, detector) for f in files]:
            future.result()
    return time.perf_counter() - start, _children_cpu() - cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def read_scores(out: Path, names: list[str]) -> dict[str, np.ndarray]:
    scores = {}
    for name in names:
        with open(out / name, newline="") as fh:
            scores[name] = np.array([float(r["anomaly_score"]) for r in csv.DictReader(fh)])
    return scores


def where_we_lose(files: list, scores: dict[str, np.ndarray], threshold: float) -> list[str]:
    lines = []
    for f in files:
        weight, window = row_weights(f, PROFILES["standard"])
        detected = (scores[f.name] >= threshold) & (window != -2)
        fp = int((detected & (window == -1)).sum())
        cells = []
        for k, (a, b) in enumerate(f.windows):
            hit = np.flatnonzero(detected & (window == k))
            cells.append(f"{(hit[0] - a) / (b - a + 1):.2f}" if len(hit) else "MISS")
        lines.append(f"  {f.name:58} FP {fp:3d}  windows: {' '.join(cells) or '-'}")
    return lines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nab", type=Path,
                        default=DEFAULT_NAB if DEFAULT_NAB.exists() else Path("/work/shared/datasets/nab"))
    parser.add_argument("--keep", type=Path, default=None, help="keep the detector's output here")
    parser.add_argument("--per-file", action="store_true", help="list detections per file (where we lose)")
    parser.add_argument("--jobs", type=int, default=None, help="processes (default: one per available CPU)")
    parser.add_argument("--detector", choices=detect.DETECTORS, default="ensemble",
                        help="ensemble (the calibrated score) or paging (the daemon's own detector, 0/1)")
    parser.add_argument("--half", choices=("a", "b"), default=None,
                        help="score only half the corpus: files in even (a) or odd (b) places of the sorted "
                             "list, to tune on one half and report the other")
    args = parser.parse_args(argv)
    files = load_corpus(args.nab)
    if args.half is not None:
        ordered = sorted(files, key=lambda f: f.name)
        files = ordered[0 if args.half == "a" else 1::2]
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp)
        seconds, cpu = run_detect(args.nab, out, args.jobs, args.detector)
        scores = read_scores(out, [f.name for f in files])
    rows = sum(len(f.values) for f in files)
    results = {p: corpus_score(files, scores, p) for p in PROFILES}
    print(f"NAB corpus: {len(files)} files, {rows} rows, {sum(len(f.windows) for f in files)} windows; "
          f"detect ran in {seconds:.1f} s wall, {cpu:.1f} s CPU ({rows / cpu:,.0f} rows per CPU-second)")
    print()
    print(f"{'detector':24} {'standard':>9} {'low FP':>9} {'low FN':>9}")
    std, lfp, lfn = (results[p][0] for p in PROFILES)
    label = f"whatchanged {args.detector}" + (f" ({args.half})" if args.half else "")
    print(f"{label:24} {std:9.2f} {lfp:9.2f} {lfn:9.2f}")
    for name, *published in PUBLISHED:
        cells = " ".join(f"{v:9.2f}" if v is not None else f"{'':>9}" for v in published)
        print(f"{name:24} {cells}")
    print()
    for p, (_score, threshold, counts) in results.items():
        print(f"{p:20} threshold {threshold:.4f}  windows detected {counts['tp']}/{counts['tp'] + counts['fn']}"
              f"  false positives {counts['fp']}")
    if args.per_file:
        print("\nper file at the standard threshold (window cell: position of the first detection, 0 = left edge):")
        print("\n".join(where_we_lose(files, scores, results["standard"][1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
