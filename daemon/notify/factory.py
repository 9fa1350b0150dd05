"""Build receivers, routes and the retry policy from the config (secrets resolved here, never logged)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .routing import Route, Router
from .types import Notifier

if TYPE_CHECKING:
    from ..config import Config, DeliveryConfig
    from .retry import RetryPolicy
    from .slack import MessageRefs

__all__ = ["build_notifiers", "build_retry", "build_router"]


def build_notifiers(cfg: Config, refs: MessageRefs | None = None) -> dict[str, Notifier]:
    """One notifier per configured receiver. ``refs`` (``store.refs``) is needed by Slack in bot mode."""
    from .alertmanager import AlertmanagerNotifier
    from .console import ConsoleNotifier
    from .opsgenie import OpsgenieNotifier
    from .pagerduty import PagerDutyNotifier
    from .slack import SlackNotifier, SlackWebhookNotifier
    from .webhook import WebhookNotifier

    def secret(ref: object) -> str:
        return ref.resolve().get_secret_value()  # type: ignore[attr-defined, no-any-return]

    out: dict[str, Notifier] = {}
    for n in cfg.notifiers:
        if n.type == "console":
            out[n.name] = ConsoleNotifier(n.name)
        elif n.type == "webhook":
            out[n.name] = WebhookNotifier(n.name, n.url, secret=secret(n.secret).encode() if n.secret else None,
                                          timeout=n.timeout)
        elif n.type == "pagerduty":
            out[n.name] = PagerDutyNotifier(n.name, secret(n.routing_key), url=n.url, source=n.source,
                                            group=n.group, change_events=n.change_events, timeout=n.timeout)
        elif n.type == "opsgenie":
            out[n.name] = OpsgenieNotifier(n.name, secret(n.api_key), url=n.url,
                                           responders=[r.model_dump() for r in n.responders], tags=n.tags,
                                           timeout=n.timeout)
        elif n.type == "slack":
            if n.webhook_url is not None:
                out[n.name] = SlackWebhookNotifier(n.name, secret(n.webhook_url), timeout=n.timeout)
            else:
                if refs is None:
                    raise ValueError(f"notifier {n.name}: Slack bot mode needs the store for message refs")
                assert n.token is not None and n.channel
                out[n.name] = SlackNotifier(n.name, secret(n.token), n.channel, refs=refs, base_url=n.base_url,
                                            timeout=n.timeout)
        elif n.type == "alertmanager":
            headers = {"Authorization": f"Bearer {secret(n.bearer_token)}"} if n.bearer_token else {}
            out[n.name] = AlertmanagerNotifier(n.name, n.url, labels=n.labels, hold=n.hold, headers=headers,
                                               timeout=n.timeout)
    return out


def build_router(cfg: Config) -> Router:
    routes = [Route(tuple(r.receivers), tuple(r.services), tuple(r.severity), r.team, r.continue_)
              for r in cfg.routing.routes]
    default = cfg.routing.default if cfg.routing.default is not None else [n.name for n in cfg.notifiers]
    return Router(routes, default=default, runbooks={s.name: s.runbook for s in cfg.services if s.runbook})


def build_retry(delivery: DeliveryConfig) -> RetryPolicy:
    from .retry import RetryPolicy
    return RetryPolicy(base=delivery.backoff_base, cap=delivery.backoff_cap, max_attempts=delivery.max_attempts)
