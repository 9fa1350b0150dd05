"""Every receiver from the YAML config, secrets from the environment or files, never shown."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from daemon.config import ConfigError, load_config
from daemon.notify.factory import build_notifiers, build_router
from daemon.notify.types import Page
from daemon.store import Store

CONFIG = """
services:
  - {name: checkout, namespace: shop, runbook: "https://runbooks.example/checkout"}
  - {name: search, namespace: shop}
notifiers:
  - {type: console}
  - {type: pagerduty, name: pd-payments, routing_key: {env: WC_PD_KEY}}
  - {type: opsgenie, name: og, api_key: {file: KEYFILE}, url: "https://api.eu.opsgenie.com",
     responders: [{type: team, name: payments}], tags: [shop]}
  - {type: slack, name: slack-payments, token: {env: WC_SLACK_TOKEN}, channel: "#payments-oncall"}
  - {type: slack, name: slack-all, webhook_url: {env: WC_SLACK_HOOK}}
  - {type: alertmanager, name: am, url: "http://alertmanager:9093", labels: {team: payments}, hold: 12h}
  - {type: webhook, name: hook, url: "https://hooks.example/wc", secret: {value: inline-s3cret}}
routing:
  routes:
    - {team: payments, services: [checkout], severity: [critical], receivers: [pd-payments, slack-payments],
       continue: true}
    - {services: [checkout], receivers: [am]}
  default: [slack-all, console]
delivery: {send_timeout: 10s, max_attempts: 8, resolve_hold: 5m, breaker_threshold: 3, breaker_cool_down: 2m}
"""

SECRETS = ("pd-s3cret-key", "og-s3cret-key", "xoxb-s3cret", "https://hooks.slack.com/services/T/B/s3cret",
           "inline-s3cret")


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    keyfile = tmp_path / "og.key"
    keyfile.write_text("og-s3cret-key\n")
    monkeypatch.setenv("WC_PD_KEY", "pd-s3cret-key")
    monkeypatch.setenv("WC_SLACK_TOKEN", "xoxb-s3cret")
    monkeypatch.setenv("WC_SLACK_HOOK", "https://hooks.slack.com/services/T/B/s3cret")
    p = tmp_path / "c.yaml"
    p.write_text(CONFIG.replace("KEYFILE", str(keyfile)))
    return p


async def test_every_receiver_builds_from_config(config_file: Path, sqlite_store: Store,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    cfg = load_config(config_file)
    notifiers = build_notifiers(cfg, sqlite_store)
    assert [type(n).__name__ for n in notifiers.values()] == [
        "ConsoleNotifier", "PagerDutyNotifier", "OpsgenieNotifier", "SlackNotifier", "SlackWebhookNotifier",
        "AlertmanagerNotifier", "WebhookNotifier"]
    assert cfg.delivery.resolve_hold == 300 and cfg.delivery.breaker_cool_down == 120
    shown = repr(cfg) + str(cfg) + repr(list(notifiers.values())) + caplog.text
    for secret in SECRETS:
        assert secret not in shown
    router = build_router(cfg)
    checkout = Page("trigger", "i", "i", 0.0, "t", "", {"services": ["checkout"]}, severity="critical")
    search = Page("trigger", "i", "i", 0.0, "t", "", {"services": ["search"]}, severity="critical")
    assert router.receivers(checkout) == ["pd-payments", "slack-payments", "am"]
    assert router.receivers(search) == ["slack-all", "console"]
    assert router.runbook(["search", "checkout"]) == "https://runbooks.example/checkout"


@pytest.mark.parametrize("old, new, field", [
    ("routing_key: {env: WC_PD_KEY}", "routing_key: {env: WC_UNSET_VAR}", "notifiers.1.routing_key"),
    ("token: {env: WC_SLACK_TOKEN}, channel: \"#payments-oncall\"", "token: {env: WC_SLACK_TOKEN}", "notifiers.3"),
    ("receivers: [am]", "receivers: [amm]", "routing.routes.1.receivers"),
    ("default: [slack-all, console]", "default: [nobody]", "routing.default"),
    ("severity: [critical]", "severity: [urgent]", "routing.routes.0.severity.0"),
    ("max_attempts: 8", "max_attempts: 0", "delivery.max_attempts"),
    ("type: alertmanager, name: am, url: \"http://alertmanager:9093\"", "type: alertmanager, name: am",
     "notifiers.5.url"),
    ("{type: console}", "{type: pager}", "notifiers.0"),
])
def test_bad_receiver_config_names_the_field(config_file: Path, old: str, new: str, field: str) -> None:
    text = config_file.read_text()
    assert old in text
    config_file.write_text(text.replace(old, new))
    with pytest.raises(ConfigError) as e:
        load_config(config_file)
    assert e.value.field == field, str(e.value)
    for secret in SECRETS:
        assert secret not in str(e.value)


def test_example_config_is_valid() -> None:
    """Structure, receivers and routes (its secrets point at variables and files of a real deployment)."""
    import yaml

    from daemon.config import parse_config

    from ..conftest import ROOT
    path = ROOT / "deploy/examples/config.yaml"
    cfg = parse_config(yaml.safe_load(path.read_text()), str(path))
    assert {n.type for n in cfg.notifiers} == {"console", "webhook", "pagerduty", "opsgenie", "slack",
                                                "alertmanager"}
    assert build_router(cfg).runbooks == {"checkout": "https://runbooks.example.internal/checkout"}
    assert cfg.delivery.resolve_hold == 600
