"""The Helm chart, linted and rendered by the real Helm engine (helm-python-sdk's libhelm), every manifest
validated against Kubernetes' schemas (kubernetes-validate), the rendered config through whatchanged's own
loader, and the PrometheusRule's rules through ``promtool check rules``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from daemon.config import parse_config
from tests.conftest import require_or_skip

helm = pytest.importorskip("helm_python", reason="helm-python-sdk (test extra) is not installed")
kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate (test extra) is not installed")

CHART = Path(__file__).resolve().parents[2] / "helm" / "whatchanged"
KUBE_VERSIONS = ["1.29.0", "1.37.0"]
CRDS = {"ServiceMonitor", "PrometheusRule"}  # Prometheus Operator kinds: no upstream schema

SHARDED: dict[str, Any] = {
    "replicaCount": 3,
    "sharding": {"enabled": True, "leader": "kubernetes"},
    "store": {"url": "postgresql://whatchanged@postgres.db:5432/whatchanged",
              "passwordSecret": {"name": "whatchanged-pg", "key": "password"}},
    "secretEnv": [{"name": "WHATCHANGED_WEBHOOK_SECRET", "secretName": "whatchanged-receivers", "key": "webhook"}],
    "config": {
        "prometheus": {"url": "http://thanos-query.monitoring:9090", "step": "30s"},
        "signals": [{"name": "error_ratio", "query": "sum by (service) (rate(errors_total[2m]))"}],
        "notifiers": [{"type": "webhook", "name": "oncall", "url": "https://hooks.example/wc",
                       "secret": {"env": "WHATCHANGED_WEBHOOK_SECRET"}}],
    },
    "serviceMonitor": {"enabled": True},
    "prometheusRule": {"enabled": True},
    "podDisruptionBudget": {"enabled": True},
    "networkPolicy": {"enabled": True, "ingressFrom": [{"namespaceSelector": {
        "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]},
    "rbac": {"clusterWide": False, "namespaces": ["shop", "payments"]},
}


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    chart = helm.Chart.load(str(CHART))
    out = chart.render(values or {}, name="wc", namespace="observability", is_install=True)
    docs: list[dict[str, Any]] = []
    for path, text in sorted(out.items()):
        if path.endswith("NOTES.txt"):
            continue
        docs += [d for d in yaml.safe_load_all(text) if d]
    return docs


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def test_lint_strict_has_no_warnings() -> None:
    for values in ({}, SHARDED):
        report = helm.lint(str(CHART), values, strict=True, namespace="observability")
        assert report["errors"] == [], report
        assert [m for m in report["messages"] if m["severity"] >= 2] == [], report


SHARDED_PG_LEADER: dict[str, Any] = {**SHARDED, "sharding": {"enabled": True, "leader": "postgres"},
                                      "rbac": {"create": True, "watch": [], "clusterWide": True}}


@pytest.mark.parametrize("values", [{}, SHARDED, SHARDED_PG_LEADER],
                         ids=["default", "sharded-postgresql", "sharded-advisory-lock"])
@pytest.mark.parametrize("kube", KUBE_VERSIONS)
def test_every_manifest_validates_against_kubernetes_schemas(values: dict[str, Any], kube: str) -> None:
    docs = render(values)
    assert docs
    for doc in docs:
        if doc["kind"] in CRDS:
            continue
        kv.validate(doc, kube, strict=True)  # raises ValidationError naming the bad field


def test_default_is_one_hardened_replica_on_sqlite() -> None:
    docs = render()
    assert {d["kind"] for d in docs} >= {"Deployment", "ConfigMap", "Service", "ServiceAccount", "ClusterRole",
                                         "ClusterRoleBinding", "NetworkPolicy", "PersistentVolumeClaim"}
    assert not by_kind(docs, "StatefulSet") and not by_kind(docs, "ServiceMonitor")
    (dep,) = by_kind(docs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz" and c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    (cm,) = by_kind(docs, "ConfigMap")
    cfg = parse_config(yaml.safe_load(cm["data"]["config.yaml"]), "configmap")
    assert cfg.store.url.startswith("sqlite") and cfg.cluster is None and cfg.host_port == ("0.0.0.0", 8080)
    (role,) = by_kind(docs, "ClusterRole")
    assert all(r["verbs"] == ["get", "list", "watch"] for r in role["rules"])


def test_sharded_postgresql_statefulset() -> None:
    docs = render(SHARDED)
    assert not by_kind(docs, "Deployment") and not by_kind(docs, "PersistentVolumeClaim")
    (sts,) = by_kind(docs, "StatefulSet")
    assert sts["spec"]["replicas"] == 3
    env = {e["name"]: e for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "whatchanged-pg", "key": "password"}
    assert env["WHATCHANGED_WEBHOOK_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "whatchanged-receivers"
    (cm,) = by_kind(docs, "ConfigMap")
    cfg = parse_config(yaml.safe_load(cm["data"]["config.yaml"]), "configmap")
    assert cfg.cluster is not None and cfg.cluster.replicas == 3 and cfg.cluster.leader == "kubernetes"
    assert cfg.store.url.startswith("postgresql://")
    assert cfg.cluster.lease.name == "wc-whatchanged-leader"
    # The replica index is the pod's ordinal, read from POD_NAME at start.
    import os
    os.environ["POD_NAME"] = sts["metadata"]["name"] + "-2"
    try:
        assert cfg.cluster.resolve_index() == 2
    finally:
        del os.environ["POD_NAME"]
    # Least privilege: read-only watch per namespace; the Lease only by name for get/update.
    roles = {(r["metadata"]["name"], r["metadata"].get("namespace")): r for r in by_kind(docs, "Role")}
    assert ("wc-whatchanged-read", "shop") in roles and ("wc-whatchanged-read", "payments") in roles
    assert not by_kind(docs, "ClusterRole")
    leader = roles[("wc-whatchanged-leader", None)]["rules"]
    assert {tuple(r["verbs"]) for r in leader} == {("create",), ("get", "update")}
    assert all(r["resources"] == ["leases"] for r in leader)
    assert next(r for r in leader if "get" in r["verbs"])["resourceNames"] == ["wc-whatchanged-leader"]
    (svc_headless,) = [s for s in by_kind(docs, "Service") if s["spec"].get("clusterIP") == "None"]
    assert sts["spec"]["serviceName"] == svc_headless["metadata"]["name"]
    assert by_kind(docs, "PodDisruptionBudget") and by_kind(docs, "ServiceMonitor")


def test_prometheus_rule_passes_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    require_or_skip(promtool is not None, "promtool not installed (Debian: prometheus)")
    (rule,) = by_kind(render(SHARDED), "PrometheusRule")
    names = [r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert {"WhatchangedDown", "WhatchangedOutboxBacklog", "WhatchangedPagesFailing", "WhatchangedNoLeader"} <= set(names)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    res = subprocess.run([str(promtool), "check", "rules", str(path)], check=False, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("values, message", [
    ({"replicaCount": 3}, "sharding.enabled"),
    ({"sharding": {"enabled": True}}, "store.url"),
    ({"store": {"url": "mysql://x/y"}}, "/store/url"),
    ({"config": {"listen": "0.0.0.0:1"}}, "/config"),
    ({"replicaCount": 0}, "/replicaCount"),
])
def test_bad_values_are_refused_naming_the_value(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError, match=message):
        render(values)


def test_advisory_lock_leader_needs_no_kubernetes_permissions() -> None:
    docs = render(SHARDED_PG_LEADER)
    assert not [d for d in docs if d["kind"] in ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")]
    (cm,) = by_kind(docs, "ConfigMap")
    cfg = parse_config(yaml.safe_load(cm["data"]["config.yaml"]), "configmap")
    assert cfg.cluster is not None and cfg.cluster.leader == "postgres"
