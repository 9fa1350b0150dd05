"""The cluster section of the config: bad settings are refused naming the field; the ordinal is read at start."""

from __future__ import annotations

import pytest

from daemon.config import ClusterConfig, ConfigError, parse_config

PG = {"url": "postgresql://postgres@127.0.0.1/x"}


@pytest.mark.parametrize("cluster, store, message", [
    ({"replicas": 3, "index": 3}, PG, "index 3 is not below replicas"),
    ({"replicas": 3, "index": 0, "index_from_env": "POD_NAME"}, PG, "not both"),
    ({"replicas": 3, "index": 0}, {"url": "sqlite:///x.db"}, "shared PostgreSQL"),
    ({"replicas": 2, "heartbeat": "5s", "member_ttl": "6s"}, PG, "member_ttl"),
    ({"leader": "zookeeper"}, PG, "cluster.leader"),
])
def test_bad_cluster_settings(cluster: dict[str, object], store: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"store": store, "cluster": cluster}, "c.yaml")


def test_index_from_the_statefulset_pod_name(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = ClusterConfig(replicas=3, index_from_env="POD_NAME")
    monkeypatch.setenv("POD_NAME", "whatchanged-2")
    assert cfg.resolve_index() == 2
    monkeypatch.setenv("POD_NAME", "whatchanged-7")
    with pytest.raises(ValueError, match="ordinal 7 is not below replicas"):
        cfg.resolve_index()
    monkeypatch.setenv("POD_NAME", "whatchanged")
    with pytest.raises(ValueError, match="does not end in a replica ordinal"):
        cfg.resolve_index()
    monkeypatch.delenv("POD_NAME")
    with pytest.raises(ValueError, match="POD_NAME is not set"):
        cfg.resolve_index()
    assert ClusterConfig().resolve_index() == 0
