"""Adwin: river's ADWIN window kept as checked JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from detectors import Adwin
from detectors.adwin import window_from_json, window_to_json


def fed(n: int = 300) -> Adwin:
    det = Adwin()
    rng = np.random.default_rng(0)
    for k, v in enumerate(10.0 + rng.normal(0.0, 0.5, n)):
        det.update(1_790_000_000.0 + 30.0 * k, float(v))
    return det


def test_state_is_plain_json_with_the_window_buckets() -> None:
    state = fed().state_dict()
    text = json.dumps(state, allow_nan=False)
    window = json.loads(text)["adwin"]
    assert window["width"] > 20 and len(window["buckets"]) >= 3
    assert all(len(b["totals"]) == window["max_buckets"] + 1 for b in window["buckets"])
    rebuilt = window_from_json(window)
    assert window_to_json(rebuilt) == window


@pytest.mark.parametrize(("path", "bad", "field"), [
    (("width",), "many", "width"),
    (("clock",), -1, "clock"),
    (("buckets",), [], "buckets"),
    (("buckets", 0, "totals"), [1.0], "totals"),
    (("buckets", 0, "current"), 99, "current"),
    (("buckets", 1, "variances"), [float("nan")] * 6, "variances"),
])
def test_bad_window_state_names_the_field(path: tuple, bad: object, field: str) -> None:
    state = fed().state_dict()
    target = state["adwin"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = bad
    with pytest.raises(ValueError, match=field):
        Adwin().load_state(state)


def test_bad_settings() -> None:
    with pytest.raises(ValueError, match="delta"):
        Adwin(delta=2.0)
