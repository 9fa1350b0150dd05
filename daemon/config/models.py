"""The daemon's YAML config, validated with pydantic.

A bad config is refused at start with a :class:`ConfigError` naming the file,
the field and what was expected. Secrets come from the environment or from files
(``{env: NAME}`` or ``{file: PATH}``) and are never logged or echoed.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BeforeValidator,
    Field,
    StrictBool,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from correlators.impact import Bar

from ..sources.templates import expand
from .base import ConfigError, ConfigModel
from .secrets import SecretRef, resolve_secrets

__all__ = [
    "AlertmanagerNotifierConfig",
    "ApiConfig",
    "ClusterConfig",
    "Config",
    "ConfigError",
    "ConfirmConfig",
    "ConfirmLabelsConfig",
    "ConsoleNotifierConfig",
    "DeliveryConfig",
    "Duration",
    "HealthQueryConfig",
    "IntakeConfig",
    "KubernetesConfig",
    "LeaseConfig",
    "NotifierConfig",
    "OpsgenieNotifierConfig",
    "PagerDutyNotifierConfig",
    "ProbeConfig",
    "PrometheusConfig",
    "RouteConfig",
    "RoutingConfig",
    "SecretRef",
    "ServiceConfig",
    "SignalConfig",
    "SlackNotifierConfig",
    "StoreConfig",
    "TemplateConfig",
    "WebhookNotifierConfig",
    "WebhooksConfig",
    "load_config",
    "parse_config",
    "parse_duration",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """``30``, ``"30s"``, ``"5m"``, ``"1h"``, ``"250ms"`` to seconds.

    >>> parse_duration("5m"), parse_duration(30), parse_duration("250ms")
    (300.0, 30.0, 0.25)
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m or 1h")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValueError("expected a duration such as 30s, 5m or 1h")
    if seconds <= 0:
        raise ValueError("expected a positive duration")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
_Model = ConfigModel


class TLSConfig(_Model):
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure_skip_verify: bool = False


class BasicAuth(_Model):
    username: str
    password: SecretRef


class PrometheusConfig(_Model):
    """Any Prometheus-compatible HTTP API: Prometheus, Thanos, Mimir, VictoriaMetrics."""

    url: str = Field(pattern=r"^https?://")
    step: Duration = 30.0
    timeout: Duration = 10.0
    lookback: Duration = 3600.0
    scrape_interval: Duration = 30.0
    """How often Prometheus scrapes the services (its ``scrape_interval``): the templates' rate
    window is ``max(step, 2 x scrape_interval)``, the shortest that holds two scrapes."""
    bearer_token: SecretRef | None = None
    basic_auth: BasicAuth | None = None
    tls: TLSConfig = TLSConfig()
    headers: dict[str, str] = {}


class SignalConfig(_Model):
    """A PromQL query whose result series are split per service by ``service_label``."""

    name: str = Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")
    query: str = Field(min_length=1)
    service_label: str = "service"
    bad_direction: Literal["up", "down", "both"] | None = None
    """Which way the signal hurts users (default: from its role, correlators.signals.default_bad_direction:
    up, and both for traffic, whose moves are judged by size)."""
    role: Literal["errors", "latency", "traffic", "resource", "other"] | None = None
    """What the signal means (default: from its name); only errors, latency and traffic page."""


def rate_window(step: float, scrape_interval: float) -> float:
    """The templates' default rate window: the step, widened only as far as two scrapes need.

    A rate over ``w`` seconds spreads a one-step glitch over ``w / step`` samples: at the old
    ``max(4 x step, 1m)`` a glitch of one step became a four-step plateau (a histogram's p99 stays
    near full height) that paged. ``rate()`` needs two scrapes inside its window, hence the floor.

    >>> rate_window(30.0, 15.0), rate_window(30.0, 30.0), rate_window(60.0, 15.0), rate_window(15.0, 30.0)
    (30.0, 60.0, 60.0, 60.0)
    """
    return max(step, 2.0 * scrape_interval)


class TemplateConfig(_Model):
    """Error ratio, latency quantile and request rate per service from common instrumentation, no PromQL."""

    template: Literal["http", "spring", "istio", "ingress_nginx", "grpc"]
    service_label: str | None = Field(default=None, pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")
    services: list[str] = []
    selector: str = ""
    quantile: float = Field(default=0.99, gt=0.0, lt=1.0)
    window: Duration | None = None

    def signals(self, step: float, scrape_interval: float = 30.0) -> list[SignalConfig]:
        window = self.window or rate_window(step, scrape_interval)
        return [SignalConfig(name=s.name, query=s.query, service_label=s.service_label)
                for s in expand(self.template, window=window, services=self.services,
                                service_label=self.service_label, selector=self.selector, quantile=self.quantile)]


class ServiceConfig(_Model):
    name: str = Field(min_length=1)
    namespace: str = ""
    calls: list[str] = []
    dependencies: list[str] = []
    runbook: str = Field(default="", pattern=r"^(https?://.*)?$")


class ProbeConfig(_Model):
    target: str = Field(min_length=1)
    url: str = Field(pattern=r"^https?://")
    interval: Duration = 15.0
    timeout: Duration = 5.0
    expect_status: int = Field(default=200, ge=100, le=599)


class HealthQueryConfig(_Model):
    """Dependency health from PromQL: 1 is healthy (``up``, blackbox exporter's ``probe_success``)."""

    query: str = Field(min_length=1)
    target_label: str = "instance"


KubernetesResource = Literal["deployments", "statefulsets", "daemonsets", "configmaps", "hpas", "nodes", "pods",
                             "events", "secrets"]


class KubernetesConfig(_Model):
    """Watch a cluster for rollouts, config, scaling, node and pod trouble; all namespaces when none given."""

    namespaces: list[str] = []
    own_namespace: bool = False  # no namespaces: watch the daemon's own (service account's, context's) only
    kubeconfig: Path | None = None
    context: str | None = None
    in_cluster: bool | None = None  # None: in-cluster when the service account is mounted, else kubeconfig
    watch: list[KubernetesResource] = ["deployments", "statefulsets", "daemonsets", "configmaps", "hpas", "nodes",
                                       "pods", "events"]
    service_labels: list[str] = ["app.kubernetes.io/name", "app"]
    watch_timeout: Duration = 300.0
    stale_after: Duration = 900.0


class StoreConfig(_Model):
    url: str = "sqlite+aiosqlite:///whatchanged.db"
    retention: Duration = 30 * 86400.0


class ConsoleNotifierConfig(_Model):
    type: Literal["console"]
    name: str = "console"


class WebhookNotifierConfig(_Model):
    type: Literal["webhook"]
    name: str = "webhook"
    url: str = Field(pattern=r"^https?://")
    secret: SecretRef | None = None
    timeout: Duration = 10.0


class PagerDutyNotifierConfig(_Model):
    """PagerDuty Events API v2 (an integration's routing key)."""

    type: Literal["pagerduty"]
    name: str = "pagerduty"
    routing_key: SecretRef
    url: str = Field(default="https://events.pagerduty.com", pattern=r"^https?://")
    source: str = ""
    group: str = ""
    change_events: bool = False  # also forward recorded changes to PagerDuty's Change Events API
    timeout: Duration = 10.0


class OpsgenieResponder(_Model):
    type: Literal["team", "user", "escalation", "schedule"]
    name: str = Field(min_length=1)


class OpsgenieNotifierConfig(_Model):
    """Opsgenie Alert API (an API integration's key); ``url`` is https://api.eu.opsgenie.com in the EU."""

    type: Literal["opsgenie"]
    name: str = "opsgenie"
    api_key: SecretRef
    url: str = Field(default="https://api.opsgenie.com", pattern=r"^https?://")
    responders: list[OpsgenieResponder] = []
    tags: list[str] = []
    timeout: Duration = 10.0


class SlackNotifierConfig(_Model):
    """Slack: a bot ``token`` (chat:write) and ``channel``, updated in place; or an incoming ``webhook_url``."""

    type: Literal["slack"]
    name: str = "slack"
    token: SecretRef | None = None
    channel: str | None = None
    webhook_url: SecretRef | None = None
    base_url: str = Field(default="https://slack.com/api/", pattern=r"^https?://")
    timeout: Duration = 10.0

    @model_validator(mode="after")
    def _mode(self) -> SlackNotifierConfig:
        if (self.token is None) == (self.webhook_url is None):
            raise ValueError("give either token (with channel) or webhook_url")
        if self.token is not None and not self.channel:
            raise ValueError("a bot token needs a channel (e.g. '#payments-oncall' or a channel id)")
        return self


class AlertmanagerNotifierConfig(_Model):
    """Alertmanager API v2: alerts pushed there follow its routing, inhibition and silences."""

    type: Literal["alertmanager"]
    name: str = "alertmanager"
    url: str = Field(pattern=r"^https?://")
    labels: dict[str, str] = {}
    hold: Duration = 86400.0
    bearer_token: SecretRef | None = None
    timeout: Duration = 10.0


NotifierConfig = Annotated[
    ConsoleNotifierConfig | WebhookNotifierConfig | PagerDutyNotifierConfig | OpsgenieNotifierConfig
    | SlackNotifierConfig | AlertmanagerNotifierConfig,
    Field(discriminator="type"),
]
_NOTIFIER_TYPES = ("console", "webhook", "pagerduty", "opsgenie", "slack", "alertmanager")


class RouteConfig(_Model):
    """Incidents touching one of ``services`` (any if empty) at one of ``severity`` (any if empty)."""

    receivers: list[str] = Field(min_length=1)
    services: list[str] = []
    severity: list[Literal["critical", "error", "warning", "info"]] = []
    team: str = ""
    continue_: bool = Field(default=False, alias="continue")


class RoutingConfig(_Model):
    routes: list[RouteConfig] = []
    default: list[str] | None = None  # None: every configured notifier


class DeliveryConfig(_Model):
    """How the outbox delivers: timeouts, retries, circuit breaker, flap damping of resolves."""

    send_timeout: Duration = 30.0
    max_attempts: int = Field(default=12, ge=1, le=100)
    backoff_base: Duration = 2.0
    backoff_cap: Duration = 300.0
    breaker_threshold: int = Field(default=5, ge=1)
    breaker_cool_down: Duration = 60.0
    resolve_hold: float = Field(default=600.0, ge=0.0)

    @field_validator("resolve_hold", mode="before")
    @classmethod
    def _hold(cls, v: Any) -> float:
        return 0.0 if v in (0, "0", "0s") else parse_duration(v)


class WebhooksConfig(_Model):
    """Inbound webhooks (``/api/v1/webhooks/...``): who may call them and how large a body may be.

    With no ``bearer_tokens`` and no ``hmac_secrets`` the webhooks are open (for a trusted network only).
    """

    bearer_tokens: list[SecretRef] = []
    hmac_secrets: list[SecretRef] = []
    max_body: int = Field(default=256 * 1024, ge=1024, le=1024 * 1024)
    alert_service_labels: list[str] = Field(default=["service", "app", "app_kubernetes_io_name", "job"],
                                            min_length=1)


class ImpactBarConfig(_Model):
    """An impact bar (see correlators/impact.py): fields left out keep the role's default."""

    min_delta: float | None = Field(default=None, ge=0.0)
    min_ratio: float | None = Field(default=None, ge=1.0)
    loss_to: float | None = Field(default=None, gt=0.0, lt=1.0)
    surge_to: float | None = Field(default=None, gt=1.0)
    min_before: float | None = Field(default=None, ge=0.0)
    min_failures: float | None = Field(default=None, ge=0.0)

    def bar(self, base: Any) -> Any:
        given = {k: v for k, v in self.model_dump().items() if k in Bar.__dataclass_fields__ and v is not None}
        return Bar(**{**base.__dict__, **given})


class ImpactOverrideConfig(ImpactBarConfig):
    """The bar of one signal of one service (``service: "*"`` for every service)."""

    service: str = Field(min_length=1)
    signal: str = Field(min_length=1)
    role: Literal["errors", "latency", "traffic"] | None = None


class IntakeConfig(_Model):
    """What the edge accepts: event times within ``max_age`` before and ``max_future`` after now
    (a change dated 2099 would otherwise hold the ranking's clock there); per source (the API,
    each webhook) at most ``rate`` events a second with bursts of ``burst``, and at most
    ``max_pending`` events waiting for the core. Beyond the limits: 429 with Retry-After.
    ``reorder_within``: see the field."""

    max_age: Duration = 365 * 86400.0
    max_future: Duration = 900.0
    rate: float = Field(default=1000.0, gt=0.0)
    burst: int = Field(default=10_000, ge=1)
    max_pending: int = Field(default=20_000, ge=100)
    reorder_within: Duration = Field(default=0.0, ge=0.0, le=600.0)
    """Observations (samples, probes, alerts) arriving out of order by up to this much event time
    are put back in order before the core sees them (daemon/core/reorder.py); every one then waits up to
    this long. 0 (the default): taken as they come, a sample older than its series' last ignored."""


class DetectionConfig(_Model):
    """``seasonal``: signals whose baseline is a learnt daily shape (``SeasonalCusum``): by default
    the request rate, which follows the daily traffic cycle; at short steps (a minute or less) the
    plain baseline follows the cycle on its own, so a deployment may list none (``seasonal: []``).

    ``vectorised`` is deprecated: still accepted, ignored, and logged as ignored when set. It chose
    the numpy bank of an earlier detector; the paging detectors have no vectorised form, so every
    series is one detector object whatever it says.
    """

    page_min_confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    # maps to GroupingPolicy.window through daemon.core.policy.policy (the one builder); default: max(10 min, 6 steps)
    group_window: Duration | None = None
    impact: dict[Literal["errors", "latency", "traffic"], ImpactBarConfig] = {}
    impact_overrides: list[ImpactOverrideConfig] = []
    roles: dict[str, Literal["errors", "latency", "traffic", "resource", "other"]] = {}
    vectorised: StrictBool = True  # deprecated, ignored (see the docstring)
    seasonal: list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]] = ["request_rate"]


class ApiConfig(_Model):
    """Who may use the HTTP API: no tokens at all leaves it open (the demo); say so in the logs."""

    read_tokens: list[SecretRef] = []
    write_tokens: list[SecretRef] = []
class LeaseConfig(_Model):
    """The Kubernetes Lease the replicas compete for (``leader: kubernetes``)."""

    name: str = Field(default="whatchanged-leader", pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    namespace: str | None = None
    namespace_env: str = "POD_NAMESPACE"
    identity_env: str = "POD_NAME"
    duration: Duration = 15.0
    renew_deadline: Duration = 10.0
    retry_period: Duration = 2.0

    @model_validator(mode="after")
    def _timing(self) -> LeaseConfig:
        if not self.duration > self.renew_deadline > 1.2 * self.retry_period:
            raise ValueError("expected duration > renew_deadline > 1.2 * retry_period")
        if self.retry_period < 1:
            raise ValueError("retry_period must be at least 1s")
        return self


class ClusterConfig(_Model):
    """Scale-out: ``replicas`` share the series, one elected leader groups, ranks and pages.

    The replica's ordinal is ``index``, or the trailing number of the environment
    variable ``index_from_env`` (a StatefulSet pod name such as ``whatchanged-2``),
    read when the daemon starts.
    """

    replicas: int = Field(default=1, ge=1, le=1000)
    index: int | None = Field(default=None, ge=0)
    index_from_env: str | None = None
    leader: Literal["postgres", "kubernetes"] = "postgres"
    heartbeat: Duration = 2.0
    member_ttl: Duration = 10.0
    checkpoint: Duration = 30.0
    lease: LeaseConfig = LeaseConfig()

    @model_validator(mode="after")
    def _consistent(self) -> ClusterConfig:
        if self.index is not None and self.index_from_env is not None:
            raise ValueError("give index or index_from_env, not both")
        if self.index is not None and self.index >= self.replicas:
            raise ValueError(f"index {self.index} is not below replicas ({self.replicas})")
        if self.member_ttl <= 2 * self.heartbeat:
            raise ValueError("member_ttl must exceed twice the heartbeat")
        return self

    def resolve_index(self) -> int:
        """This replica's ordinal; reads ``index_from_env`` (call at start, not at import)."""
        if self.index is not None:
            return self.index
        if self.index_from_env is None:
            if self.replicas == 1:
                return 0
            raise ValueError("set index or index_from_env for more than one replica")
        raw = os.environ.get(self.index_from_env)
        if raw is None:
            raise ValueError(f"environment variable {self.index_from_env} is not set")
        m = re.search(r"(\d+)$", raw)
        if m is None:
            raise ValueError(f"{self.index_from_env}={raw!r} does not end in a replica ordinal")
        index = int(m.group(1))
        if index >= self.replicas:
            raise ValueError(f"{self.index_from_env}={raw!r}: ordinal {index} is not below replicas "
                             f"({self.replicas})")
        return index


_LABEL_NAME = r"^[a-zA-Z_][a-zA-Z0-9_]*$"


class ConfirmLabelsConfig(_Model):
    """The Prometheus label that carries each split of a confirm test (``null``: the metrics have none,
    and those tests say so). Defaults: OpenTelemetry's attribute names as Prometheus writes them
    (``feature_flag.result.variant``, ``service.peer.name``, ``http.route``; docs/confirm.md)."""

    config_hash: str | None = Field(default="config_hash", pattern=_LABEL_NAME)
    flag_variant: str | None = Field(default="feature_flag_result_variant", pattern=_LABEL_NAME)
    callee: str | None = Field(default="service_peer_name", pattern=_LABEL_NAME)
    route: str | None = Field(default="http_route", pattern=_LABEL_NAME)


class ConfirmConfig(_Model):
    """Confirm tests run live (docs/confirm.md): each top candidate's test queried from Prometheus.

    They run when the config has a signal template: a deploy's test splits by the pods of the new
    and old ReplicaSet (a Kubernetes watch of pods, by ``pod_label``) or a ``version_label``; flags,
    config hashes, dependencies and traffic split by the labels ``labels`` names."""

    enabled: bool = True
    template: Literal["http", "spring", "istio", "ingress_nginx", "grpc"] | None = None
    """The per-version queries' template (default: the first of ``templates``)."""
    pod_label: str = Field(default="pod", pattern=_LABEL_NAME)
    version_label: str | None = Field(default=None, pattern=_LABEL_NAME)
    labels: ConfirmLabelsConfig = ConfirmLabelsConfig()
    flag_on: str = Field(default="on", min_length=1)
    """The flag label's value of the treated arm (requests with the flag on)."""
    flag_off: str = Field(default="off", min_length=1)
    """The control arm's value."""

    @model_validator(mode="after")
    def _arms_differ(self) -> ConfirmConfig:
        if self.flag_on == self.flag_off:
            raise ValueError(f"flag_on and flag_off are both {self.flag_on!r}: the arms must differ")
        return self
    top: int = Field(default=3, ge=1, le=20)
    max_queries: int = Field(default=40, ge=1, le=1000)
    """Tests per incident, at most (each test is a few range queries)."""
    timeout: Duration = 10.0
    concurrency: int = Field(default=2, ge=1, le=32)


class Config(_Model):
    listen: str = "127.0.0.1:8080"
    base_url: str = ""
    store: StoreConfig = StoreConfig()
    prometheus: PrometheusConfig | None = None
    signals: list[SignalConfig] = []
    templates: list[TemplateConfig] = []
    services: list[ServiceConfig] = []
    dependencies: list[str] = []
    probes: list[ProbeConfig] = []
    probe_concurrency: int = Field(default=16, ge=1, le=1000)
    health_queries: list[HealthQueryConfig] = []
    kubernetes: KubernetesConfig | None = None
    notifiers: list[NotifierConfig] = [ConsoleNotifierConfig(type="console")]
    detection: DetectionConfig = DetectionConfig()
    routing: RoutingConfig = RoutingConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    api: ApiConfig = ApiConfig()
    webhooks: WebhooksConfig = WebhooksConfig()
    intake: IntakeConfig = IntakeConfig()
    cluster: ClusterConfig | None = None
    confirm: ConfirmConfig = ConfirmConfig()

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        host, sep, port = v.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("expected HOST:PORT, e.g. 127.0.0.1:8080")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        if (self.signals or self.templates or self.health_queries) and self.prometheus is None:
            raise ValueError("signals, templates and health_queries need a prometheus section "
                             "(url of the Prometheus-compatible API)")
        names = [n.name for n in self.notifiers]
        if self.cluster is not None and self.cluster.replicas > 1 and self.store.url.startswith("sqlite"):
            raise ValueError("cluster: more than one replica needs a shared PostgreSQL store (store.url)")
        if self.cluster is not None and self.cluster.leader == "postgres" and self.store.url.startswith("sqlite"):
            raise ValueError("cluster: leader postgres needs a PostgreSQL store (store.url)")
        if (self.api.read_tokens and not self.api.write_tokens
                and not (self.webhooks.bearer_tokens or self.webhooks.hmac_secrets)):
            # with write tokens the webhooks take those; with read tokens only nothing would guard them
            raise ValueError("webhooks: api tokens are set, so the webhooks must be authenticated too: "
                             "set webhooks.bearer_tokens or webhooks.hmac_secrets (or api.write_tokens)")
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"notifier names must be unique; repeated: {', '.join(sorted(dupes))}")
        return self

    def all_signals(self) -> list[SignalConfig]:
        """Custom ``signals`` followed by every template's expansion."""
        step = self.prometheus.step if self.prometheus else 30.0
        scrape = self.prometheus.scrape_interval if self.prometheus else 30.0
        return list(self.signals) + [s for t in self.templates for s in t.signals(step, scrape)]

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if not (isinstance(p, str) and p in _NOTIFIER_TYPES and loc[0] == "notifiers")]
    return ".".join(parts)


def parse_config(data: Any, path: str = "<config>") -> Config:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path, "", "expected a YAML mapping at the top level")
    try:
        cfg = Config.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check its spelling)"
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "union_tag_invalid":
            msg = "unknown type; expected one of " + str(err.get("ctx", {}).get("expected_tags", ""))
        raise ConfigError(path, _field(tuple(err["loc"])), msg) from None
    _check_routing(cfg, path)
    if "vectorised" in cfg.detection.model_fields_set:
        logging.getLogger(__name__).warning(
            "%s: detection.vectorised is deprecated and ignored (every series runs one detector object)", path)
    return cfg


def _read_yaml(p: Path) -> Any:
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(str(p), "", f"cannot read: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(str(p), "", f"not UTF-8 text (byte {e.start})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(str(p), where, f"not valid YAML ({getattr(e, 'problem', e)})") from None
    if data is None or data == {}:
        raise ConfigError(str(p), "", "the config is empty: nothing to watch and nowhere to page "
                                      "(deploy/examples/config.yaml shows every section)")
    return data


def load_config_unresolved(path: str | Path) -> Config:
    """The config validated, its secrets not read yet (see :func:`unresolved_secrets`)."""
    return parse_config(_read_yaml(Path(path)), str(path))


def load_config(path: str | Path) -> Config:
    cfg = load_config_unresolved(path)
    resolve_secrets(cfg, str(path))
    return cfg


def _check_routing(cfg: Config, path: str) -> None:
    """Every receiver a route names must be a configured notifier."""
    names = {n.name for n in cfg.notifiers}
    lists = [(f"routing.routes.{i}.receivers", r.receivers) for i, r in enumerate(cfg.routing.routes)]
    if cfg.routing.default is not None:
        lists.append(("routing.default", cfg.routing.default))
    for field, receivers in lists:
        unknown = [r for r in receivers if r not in names]
        if unknown:
            raise ConfigError(path, field, f"no notifier named {', '.join(unknown)} "
                                           f"(configured: {', '.join(sorted(names))})")


def load_config_or_report(path: str | Path, prog: str = "whatchanged") -> Config | None:
    """For commands: the config, or None after one line on stderr naming the file and the field."""
    try:
        return load_config(path)
    except ConfigError as e:
        print(f"{prog}: bad config: {e}", file=sys.stderr)
        return None
