"""Render the plain manifests in deploy/ from the Helm chart, so the two never drift apart.

Usage: ``.venv/bin/python deploy/render_manifests.py`` (needs the test extra: helm-python-sdk).
``tests/deploy/test_manifests.py`` fails when a committed file differs from this rendering.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "helm" / "whatchanged"
HEADER = ("# Generated from helm/whatchanged by deploy/render_manifests.py: edit the chart, then re-run it.\n"
          "# {what}\n")

# name -> (what it is, values)
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "kubernetes/whatchanged.yaml": (
        ("One replica on SQLite in namespace 'whatchanged': kubectl create namespace whatchanged && "
         "kubectl apply -n whatchanged -f deploy/kubernetes/whatchanged.yaml"),
        {"fullnameOverride": "whatchanged"}),
    "kubernetes/whatchanged-sharded.yaml": (
        "Three replicas sharing the series, on PostgreSQL (secret whatchanged-pg, key password), Lease leader.",
        {"fullnameOverride": "whatchanged", "replicaCount": 3,
         "sharding": {"enabled": True, "leader": "kubernetes"},
         "store": {"url": "postgresql://whatchanged@postgres:5432/whatchanged",
                   "passwordSecret": {"name": "whatchanged-pg", "key": "password"}},
         "podDisruptionBudget": {"enabled": True}}),
}


def render(values: dict[str, Any]) -> str:
    import helm_python as helm
    out = helm.Chart.load(str(CHART)).render(values, name="whatchanged", namespace="whatchanged", is_install=True)
    docs = []
    for path, text in sorted(out.items()):
        if path.endswith("NOTES.txt"):
            continue
        docs += [d for d in yaml.safe_load_all(text) if d]
    return yaml.safe_dump_all(docs, sort_keys=False)


def rules() -> str:
    """The chart's PrometheusRule as a plain rules file for the local Prometheus (job "whatchanged")."""
    import helm_python as helm
    out = helm.Chart.load(str(CHART)).render({"fullnameOverride": "whatchanged", "prometheusRule": {"enabled": True}},
                                             name="whatchanged", namespace="whatchanged", is_install=True)
    doc = next(d for p, t in out.items() if p.endswith("prometheusrule.yaml") for d in yaml.safe_load_all(t) if d)
    return yaml.safe_dump({"groups": doc["spec"]["groups"]}, sort_keys=False)


def expected() -> dict[str, str]:
    files = {name: HEADER.format(what=what) + render(values) for name, (what, values) in VARIANTS.items()}
    files["local/whatchanged-rules.yml"] = HEADER.format(what="whatchanged's own alerts for the local Prometheus.") \
        + rules()
    return files


def main() -> None:
    for name, text in expected().items():
        (ROOT / "deploy" / name).write_text(text)
        print(f"wrote deploy/{name}")


if __name__ == "__main__":
    main()
