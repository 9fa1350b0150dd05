"""A re-implementation of the Numenta Anomaly Benchmark's scoring rules.

From NAB's published rules (``nab/scorer.py``, ``nab/sweeper.py``, ``nab/runner.py``):

- the first ``min(floor(0.15 * n), 750)`` rows of a file are probationary and not scored;
- a detection is a row whose anomaly score is ``>= threshold``;
- inside a label window, the *earliest* detection scores ``tpWeight * sigmoid_scaled(pos) / sigmoid_scaled(-1)``
  where ``pos = -(right - i + 1) / width`` (1.0 at the left edge, falling towards the right);
  a window without a detection costs ``-fnWeight``; later detections in a window add nothing;
- a detection outside windows costs ``fpWeight * sigmoid_scaled(distance past the previous
  window / (its width - 1))`` (``-fpWeight`` before any window): a false positive right after a
  window is cheap, one far from any window costs the full weight;
- one threshold per profile over the whole corpus (we sweep every distinct score, which
  finds the exact optimum where NAB's ``twiddle`` search finds a local one);
- the corpus score is normalised: ``100 * (S - S_null) / (S_perfect - S_null)`` with
  ``S_null = -fnWeight * windows`` (no detection) and ``S_perfect = tpWeight * windows``.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PROFILES: dict[str, dict[str, float]] = {
    "standard": {"tp": 1.0, "fn": 1.0, "fp": 0.11},
    "reward_low_FP_rate": {"tp": 1.0, "fn": 1.0, "fp": 0.22},
    "reward_low_FN_rate": {"tp": 1.0, "fn": 2.0, "fp": 0.11},
}


def scaled_sigmoid(position: float) -> float:
    if position > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


@dataclass
class LabelledFile:
    """One corpus file's rows and where its windows lie (row indices, inclusive)."""

    name: str
    timestamps: list[str]
    values: np.ndarray
    windows: list[tuple[int, int]]

    @property
    def probation(self) -> int:
        n = len(self.timestamps)
        return int(min(math.floor(0.15 * n), 0.15 * 5000))


def read_series(path: Path) -> tuple[list[str], np.ndarray]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [r["timestamp"] for r in rows], np.array([float(r["value"]) for r in rows])


def load_corpus(root: Path) -> list[LabelledFile]:
    windows = json.loads((root / "labels" / "combined_windows.json").read_text())
    out = []
    for name in sorted(windows):
        stamps, values = read_series(root / "data" / name)
        index = {s: i for i, s in enumerate(stamps)}
        wins = [(index[a.split(".")[0]], index[b.split(".")[0]]) for a, b in windows[name]]
        out.append(LabelledFile(name, stamps, values, sorted(wins)))
    return out


def row_weights(f: LabelledFile, profile: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the score a detection there earns, and its window id (-1 outside, -2 probationary)."""
    n = len(f.timestamps)
    weight = np.empty(n)
    window = np.full(n, -1, dtype=np.int64)
    max_tp = scaled_sigmoid(-1.0)
    prev_right: int | None = None
    prev_width = 0.0
    wins = list(f.windows)
    for i in range(n):
        inside = next((k for k, (a, b) in enumerate(wins) if a <= i <= b), None)
        if inside is not None:
            a, b = wins[inside]
            width = float(b - a + 1)
            weight[i] = scaled_sigmoid(-(b - i + 1) / width) * profile["tp"] / max_tp
            window[i] = inside
            if i == b:
                prev_right, prev_width = b, width
        else:
            if prev_right is None:
                unweighted = -1.0
            else:
                unweighted = scaled_sigmoid(abs(prev_right - i) / (prev_width - 1.0))
            weight[i] = unweighted * profile["fp"]
    window[: f.probation] = -2
    return weight, window


def corpus_score(
    files: list[LabelledFile], scores: dict[str, np.ndarray], profile_name: str,
) -> tuple[float, float, dict[str, int]]:
    """The normalised NAB score at the best single threshold, that threshold, and the counts."""
    profile = PROFILES[profile_name]
    all_scores, all_weights, all_windows = [], [], []
    n_windows = 0
    for f in files:
        weight, window = row_weights(f, profile)
        scorable = window != -2
        win = window.copy()
        win[window >= 0] += n_windows            # corpus-wide window ids
        n_windows += len(f.windows)
        all_scores.append(np.asarray(scores[f.name], dtype=float)[scorable])
        all_weights.append(weight[scorable])
        all_windows.append(win[scorable])
    s = np.concatenate(all_scores)
    w = np.concatenate(all_weights)
    win = np.concatenate(all_windows)
    # A window wholly inside probation could not be detected and would count as a miss
    # (none of NAB's 116 is: the perfect detector scores 100).
    order = np.argsort(-s, kind="stable")
    s, w, win = s[order], w[order], win[order]
    total = -profile["fn"] * n_windows           # no detections at all
    best_total, best_threshold = total, math.inf
    window_score = np.full(n_windows, -profile["fn"])
    fp = tp = 0
    best_counts = {"tp": 0, "fp": 0, "fn": n_windows}
    i = 0
    while i < len(s):
        j = i
        while j < len(s) and s[j] == s[i]:
            k = win[j]
            if k < 0:
                total += w[j]
                fp += 1
            elif w[j] > window_score[k]:
                if window_score[k] == -profile["fn"]:
                    tp += 1
                total += w[j] - window_score[k]
                window_score[k] = w[j]
            j += 1
        if total > best_total:
            best_total, best_threshold = total, float(s[i])
            best_counts = {"tp": tp, "fp": fp, "fn": n_windows - tp}
        i = j
    null = -profile["fn"] * n_windows
    perfect = profile["tp"] * n_windows
    return 100.0 * (best_total - null) / (perfect - null), best_threshold, best_counts
