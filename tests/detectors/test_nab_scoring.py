"""The NAB scorer used by tests/benchmarks/nab.py follows NAB's published rules."""

from __future__ import annotations

import numpy as np
import pytest

from tests.benchmarks.nab_scoring import LabelledFile, corpus_score, scaled_sigmoid


def corpus() -> list[LabelledFile]:
    n = 2000                                     # probation: 300 rows
    return [LabelledFile("a.csv", [str(i) for i in range(n)], np.zeros(n), [(1000, 1099)]),
            LabelledFile("b.csv", [str(i) for i in range(n)], np.zeros(n), [(500, 549), (1500, 1549)])]


def scores(hits: dict[str, list[int]]) -> dict[str, np.ndarray]:
    out = {}
    for f in corpus():
        s = np.zeros(len(f.values))
        s[hits.get(f.name, [])] = 1.0
        out[f.name] = s
    return out


def test_null_and_perfect_detectors_score_0_and_100() -> None:
    files = corpus()
    assert corpus_score(files, scores({}), "standard")[0] == 0.0
    perfect = scores({"a.csv": [1000], "b.csv": [500, 1500]})
    for profile in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"):
        assert corpus_score(files, perfect, profile)[0] == pytest.approx(100.0)


def test_earlier_in_the_window_scores_more_and_only_the_first_detection_counts() -> None:
    files = corpus()
    early = corpus_score(files, scores({"a.csv": [1010]}), "standard")[0]
    late = corpus_score(files, scores({"a.csv": [1090]}), "standard")[0]
    both = corpus_score(files, scores({"a.csv": [1010, 1090]}), "standard")[0]
    assert early > late > 0.0
    assert both == pytest.approx(early)


def test_false_positive_far_from_windows_costs_its_weight_and_probation_is_free() -> None:
    files = corpus()
    base = corpus_score(files, scores({"a.csv": [1000], "b.csv": [500, 1500]}), "standard")
    with_fp = corpus_score(files, scores({"a.csv": [1000, 400], "b.csv": [500, 1500]}), "standard")
    in_probation = corpus_score(files, scores({"a.csv": [1000, 100], "b.csv": [500, 1500]}), "standard")
    # 3 windows: perfect 3, null -3, so one FP of weight -0.11 costs 100 * 0.11 / 6 points
    # (or no detection at all at the best threshold, if that costs less: it does not here).
    assert with_fp[0] == pytest.approx(100.0 - 100.0 * 0.11 / 6.0)
    assert in_probation[0] == pytest.approx(base[0])
    assert scaled_sigmoid(5.0) == -1.0
