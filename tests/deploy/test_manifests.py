"""deploy/: the plain manifests are the chart's rendering (no drift) and valid Kubernetes; the local stack's
configs pass Prometheus' and Alertmanager's own checkers and whatchanged's loader."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from daemon.config import load_config, parse_config
from tests.conftest import require_or_skip

pytest.importorskip("helm_python", reason="helm-python-sdk (test extra) is not installed")
kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate (test extra) is not installed")

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / "deploy" / "local"


def _render_module():  # type: ignore[no-untyped-def]
    import importlib.util
    spec = importlib.util.spec_from_file_location("render_manifests", ROOT / "deploy" / "render_manifests.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_committed_manifests_match_the_chart() -> None:
    for name, text in _render_module().expected().items():
        committed = (ROOT / "deploy" / name).read_text()
        assert committed == text, f"deploy/{name} is stale: run .venv/bin/python deploy/render_manifests.py"


@pytest.mark.parametrize("name", ["whatchanged.yaml", "whatchanged-sharded.yaml"])
def test_plain_manifests_are_valid_kubernetes(name: str) -> None:
    docs = [d for d in yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / name).read_text()) if d]
    assert any(d["kind"] in ("Deployment", "StatefulSet") for d in docs)
    for d in docs:
        kv.validate(d, "1.37.0", strict=True)
        if d["kind"] == "ConfigMap":
            parse_config(yaml.safe_load(d["data"]["config.yaml"]), name)


def test_local_prometheus_config_and_rules() -> None:
    promtool = shutil.which("promtool")
    require_or_skip(promtool is not None, "promtool not installed (Debian: prometheus)")
    res = subprocess.run([str(promtool), "check", "config", str(LOCAL / "prometheus.yml")],
                         check=False, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS: 4 rules found" in res.stdout + res.stderr  # the leader rule is for sharded installs


def test_local_alertmanager_config() -> None:
    amtool = shutil.which("amtool")
    require_or_skip(amtool is not None, "amtool not installed (Debian: prometheus-alertmanager)")
    res = subprocess.run([str(amtool), "check-config", str(LOCAL / "alertmanager.yml")],
                         check=False, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


def test_local_whatchanged_config() -> None:
    cfg = load_config(LOCAL / "whatchanged.yaml")
    assert cfg.prometheus is not None and cfg.prometheus.url == "http://127.0.0.1:9090"
