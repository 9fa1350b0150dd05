"""``detection.vectorised`` is deprecated: still accepted, logged as ignored, and of no effect."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from daemon.config import parse_config
from daemon.core.engine import detection_factories


@pytest.mark.parametrize("value", [True, False])
def test_vectorised_is_accepted_and_logged_as_ignored(value: bool, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="daemon.config"):
        cfg = parse_config({"listen": "127.0.0.1:9090", "detection": {"vectorised": value}}, "c.yaml")
    assert cfg.detection.vectorised is value
    assert [r.getMessage() for r in caplog.records] == [
        "c.yaml: detection.vectorised is deprecated and ignored (every series runs one detector object)"]


def test_no_warning_without_the_key(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="daemon.config"):
        parse_config({"listen": "127.0.0.1:9090", "detection": {"seasonal": []}}, "c.yaml")
    assert caplog.records == []


@pytest.mark.parametrize("signal", ["error_ratio", "request_rate"])
def test_either_value_runs_the_same_detectors(signal: str) -> None:
    rng = np.random.default_rng(4)
    x = 5.0 * (1.0 + rng.normal(0.0, 0.05, (8, 300)))
    x[::2, 150:220] *= 4.0
    keys = [f"s{i}" for i in range(8)]
    runs = []
    for vectorised in (True, False):
        bank = detection_factories(["request_rate"], vectorised)[1](signal)
        events = [(t, ev) for t in range(300) for ev in bank.update(60.0 * t, keys, x[:, t])]
        runs.append((events, bank.state_dict()))
    assert runs[0][0], "the stream must exercise a detection"
    assert runs[0] == runs[1]
