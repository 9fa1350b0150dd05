from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from daemon.config import ConfigError, load_config

GOOD = """
listen: 127.0.0.1:9090
store: {url: "sqlite+aiosqlite:///x.db", retention: 7d}
prometheus: {url: "http://127.0.0.1:9090", step: 15s, bearer_token: {env: WC_TEST_TOKEN}}
signals:
  - name: error_ratio
    query: sum by (service) (rate(http_requests_total{code=~"5.."}[1m])) / sum by (service) (rate(http_requests_total[1m]))
services:
  - {name: checkout, namespace: shop, calls: [payments], dependencies: [payments-gateway]}
probes:
  - {target: payments-gateway, url: "http://127.0.0.1:1/health", interval: 10s}
notifiers:
  - {type: console}
  - {type: webhook, name: hook, url: "http://127.0.0.1:1/hook", secret: {env: WC_TEST_SECRET}}
"""


def test_good_config_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WC_TEST_TOKEN", "t0ken")
    monkeypatch.setenv("WC_TEST_SECRET", "s3cret")
    p = tmp_path / "c.yaml"
    p.write_text(GOOD)
    cfg = load_config(p)
    assert cfg.prometheus is not None and cfg.prometheus.step == 15.0
    assert cfg.store.retention == 7 * 86400
    assert cfg.host_port == ("127.0.0.1", 9090)
    assert "s3cret" not in repr(cfg) and "t0ken" not in repr(cfg)
    assert cfg.detection.vectorised  # the default: each query's series advance together
    p.write_text(GOOD + "detection: {vectorised: false}\n")
    assert not load_config(p).detection.vectorised
    assert cfg.detection.seasonal == ["request_rate"]  # the default: request rates learn a daily shape
    p.write_text(GOOD + "detection: {seasonal: []}\n")
    assert load_config(p).detection.seasonal == []


@pytest.mark.parametrize("edit, field, words", [
    (("step: 15s", "step: soon"), "prometheus.step", "duration"),
    (("listen: 127.0.0.1:9090", "listen: nowhere"), "listen", "HOST:PORT"),
    (("{type: console}", "{type: pager}"), "notifiers.0", "unknown type"),
    (("name: checkout,", "nam: checkout,"), "services.0.name", "required"),
    (("store: {url", "store: {ur1: 1, url"), "store.ur1", "unknown field"),
    (('url: "http://127.0.0.1:1/hook"', 'url: "ftp://x"'), "notifiers.1.url", "pattern"),
    (("interval: 10s", "interval: -3"), "probes.0.interval", "positive"),
    (("listen: 127.0.0.1:9090", "listen: 127.0.0.1:9090\ndetection: {vectorised: maybe}"), "detection.vectorised",
     "boolean"),
    (("listen: 127.0.0.1:9090", "listen: 127.0.0.1:9090\ndetection: {vectorised: 1}"), "detection.vectorised",
     "boolean"),
    (("listen: 127.0.0.1:9090", "listen: 127.0.0.1:9090\ndetection: {seasonal: request_rate}"),
     "detection.seasonal", "list"),
    (("listen: 127.0.0.1:9090", "listen: 127.0.0.1:9090\ndetection: {seasonal: [\"request rate\"]}"),
     "detection.seasonal.0", "pattern"),
])
def test_bad_config_names_file_and_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: tuple[str, str],
                                         field: str, words: str) -> None:
    monkeypatch.setenv("WC_TEST_TOKEN", "t")
    monkeypatch.setenv("WC_TEST_SECRET", "s")
    p = tmp_path / "c.yaml"
    assert edit[0] in GOOD
    p.write_text(GOOD.replace(edit[0], edit[1]))
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert e.value.field == field
    assert str(p) in str(e.value) and words in str(e.value)


def test_missing_secret_env_is_refused_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WC_TEST_TOKEN", "t")
    monkeypatch.delenv("WC_TEST_SECRET", raising=False)
    p = tmp_path / "c.yaml"
    p.write_text(GOOD)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert e.value.field == "notifiers.1.secret" and "WC_TEST_SECRET" in str(e.value)


def test_run_with_bad_config_exits_2_without_traceback(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("listen: [unclosed\n")
    r = subprocess.run([sys.executable, "-m", "daemon.cli", "run", "--config", str(p)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2
    assert str(p) in r.stderr and "YAML" in r.stderr and "Traceback" not in r.stderr


def test_help_explains_every_command() -> None:
    r = subprocess.run([sys.executable, "-m", "daemon.cli", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    for cmd in ("run", "demo", "replay", "check-config", "simulate"):
        assert cmd in r.stdout
