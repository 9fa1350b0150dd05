"""Config of the sources: bad fields are named, templates expand, the factory builds every source."""

from __future__ import annotations

from typing import Any

import pytest

from daemon.config import ConfigError, parse_config
from daemon.sources.factory import build_sources


@pytest.mark.parametrize("data, field", [
    ({"prometheus": {"url": "http://p"}, "templates": [{"template": "nginx"}]}, "templates.0.template"),
    ({"prometheus": {"url": "http://p"}, "templates": [{"template": "http", "quantile": 1.5}]},
     "templates.0.quantile"),
    ({"templates": [{"template": "http"}]}, ""),
    ({"kubernetes": {"watch": ["deployments", "jobs"]}}, "kubernetes.watch.1"),
    ({"kubernetes": {"watch_timeout": "soon"}}, "kubernetes.watch_timeout"),
    ({"webhooks": {"max_body": 10}}, "webhooks.max_body"),
    ({"webhooks": {"bearer_tokens": [{"env": "A", "file": "/x"}]}}, "webhooks.bearer_tokens.0"),
    ({"prometheus": {"url": "http://p"}, "health_queries": [{"query": ""}]}, "health_queries.0.query"),
    ({"probe_concurrency": 0}, "probe_concurrency"),
])
def test_bad_source_config_names_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_config(data, "c.yaml")
    assert e.value.field == field, str(e.value)


def test_factory_builds_every_source() -> None:
    cfg = parse_config({
        "prometheus": {"url": "http://p:9090", "step": "15s"},
        "signals": [{"name": "queue_depth", "query": "max by (service) (q)"}],
        "templates": [{"template": "grpc"}, {"template": "spring"}],
        "health_queries": [{"query": "up"}],
        "probes": [{"target": "db", "url": "http://db/health"}],
        "kubernetes": {"namespaces": ["shop"]},
    })
    assert [s.name for s in cfg.all_signals()] == ["queue_depth"] + ["error_ratio", "latency_p99_seconds",
                                                                     "request_rate"] * 2
    sources, statuses = build_sources(cfg)
    assert [s.name for s in sources] == ["prometheus", "probes", "kubernetes"]
    assert [s.name for s in statuses] == ["prometheus", "probes", "kubernetes"]


def test_the_templates_rate_window_follows_the_step_so_one_glitch_stays_one_sample() -> None:
    from daemon.config import parse_config
    cfg = parse_config({"prometheus": {"url": "http://p:9090", "step": "30s", "scrape_interval": "15s"},
                        "templates": [{"template": "http"}]})
    assert all("[30s]" in s.query for s in cfg.all_signals())
    default = parse_config({"prometheus": {"url": "http://p:9090", "step": "30s"}, "templates": [{"template": "http"}]})
    assert all("[60s]" in s.query for s in default.all_signals()), "two scrapes at the default 30 s"
    wide = parse_config({"prometheus": {"url": "http://p:9090", "step": "60s", "scrape_interval": "15s"},
                         "templates": [{"template": "http", "window": "5m"}]})
    assert all("[300s]" in s.query for s in wide.all_signals()), "an explicit window is kept"
