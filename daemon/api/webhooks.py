"""Inbound webhooks: change adapters (GitHub, Argo CD, feature flags) and Alertmanager alerts.

``POST /api/v1/webhooks/{github,argocd,flags,launchdarkly,unleash}`` record changes (idempotent
on the event's id); ``POST /api/v1/webhooks/alertmanager`` takes Alertmanager's webhook.
Authentication: a bearer token, or an HMAC-SHA256 signature of the raw body
(``X-Hub-Signature-256: sha256=HEX`` as GitHub sends it, ``X-LD-Signature: HEX`` as
LaunchDarkly sends it, or ``X-Whatchanged-Signature: sha256=HEX``). 401 when no credential
is given, 403 when it is wrong, both without details; 413 above the body limit; 400 naming
the field at fault.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..core.guard import check_change, clean_text
from ..sources.alertmanager import DEFAULT_SERVICE_LABELS, alerts_from_webhook
from ..sources.change_hooks import ADAPTERS
from .auth import ApiTokens
from .backend import Backend, backend, backend_of
from .requests import decode_json, edge_times

if TYPE_CHECKING:
    from ..config import WebhooksConfig

__all__ = ["WebhookSettings", "add_routes", "sign"]

log = logging.getLogger("whatchanged.webhooks")

SIGNATURE_HEADERS = ("X-Hub-Signature-256", "X-Whatchanged-Signature", "X-LD-Signature")


@dataclass(frozen=True)
class WebhookSettings:
    """Resolved webhook settings (secrets as bytes, kept out of logs and reprs)."""

    bearer_tokens: Sequence[bytes] = field(default=(), repr=False)
    hmac_secrets: Sequence[bytes] = field(default=(), repr=False)
    max_body: int = 256 * 1024
    service_labels: Sequence[str] = DEFAULT_SERVICE_LABELS
    closed: bool = False  # no credential configured, yet not open (the API has tokens): refuse everyone

    @classmethod
    def from_config(cls, cfg: WebhooksConfig) -> WebhookSettings:
        return cls(tuple(t.resolve().get_secret_value().encode() for t in cfg.bearer_tokens),
                   tuple(s.resolve().get_secret_value().encode() for s in cfg.hmac_secrets),
                   cfg.max_body, tuple(cfg.alert_service_labels))

    @property
    def open(self) -> bool:
        return not self.bearer_tokens and not self.hmac_secrets and not self.closed

    def guarded_by(self, api: ApiTokens) -> WebhookSettings:
        """Webhooks are authenticated whenever the API is: open webhook settings take the API's
        write tokens as bearer tokens (and refuse everyone when it has read tokens only)."""
        if not self.open or api.open:
            return self
        return replace(self, bearer_tokens=tuple(api.write), closed=True)


def sign(secret: bytes, body: bytes) -> str:
    """The ``sha256=HEX`` signature of ``body`` (GitHub's ``X-Hub-Signature-256`` format).

    >>> sign(b"It's a Secret to Everybody", b"Hello, World!")
    'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17'
    """
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def _authorised(request: web.Request, body: bytes, settings: WebhookSettings) -> int:
    """0 when the caller may proceed, else the HTTP status to refuse with (401 or 403)."""
    if settings.open:
        return 0
    given = False
    auth = request.headers.get("Authorization", "")
    if auth:
        given = True
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token:
            candidate = token.strip().encode()
            # compare against every token (no early exit) so timing does not reveal which matched
            matches = [hmac.compare_digest(candidate, t) for t in settings.bearer_tokens]
            if any(matches):
                return 0
    for header in SIGNATURE_HEADERS:
        value = request.headers.get(header)
        if value is None:
            continue
        given = True
        digest = value.strip().removeprefix("sha256=").lower()
        for secret in settings.hmac_secrets:
            if hmac.compare_digest(digest.encode(), hmac.new(secret, body, hashlib.sha256).hexdigest().encode()):
                return 0
    return 403 if given else 401


def _refuse(status: int) -> web.Response:
    text = "unauthorized" if status == 401 else "forbidden"
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return web.json_response({"error": text}, status=status, headers=headers)


async def _read_limited(request: web.Request, limit: int) -> bytes | None:
    """The raw body, or ``None`` when it is larger than ``limit`` (checked while reading, chunked too)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.readany()
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)


def _settings(daemon: Backend) -> WebhookSettings:
    settings = getattr(daemon, "webhooks", None) or WebhookSettings()
    return settings.guarded_by(daemon.api_tokens)


async def _authenticated_json(request: web.Request, daemon: Backend) -> tuple[Any, web.Response | None]:
    settings = _settings(daemon)
    raw = await _read_limited(request, settings.max_body)
    if raw is None:
        return None, web.json_response({"error": f"request body larger than {settings.max_body} bytes",
                                        "field": "body"}, status=413)
    refused = _authorised(request, raw, settings)
    if refused:
        daemon.metrics.http_requests.labels("webhook-auth", str(refused)).inc()
        return None, _refuse(refused)
    return decode_json(raw), None


def _daemon(request: web.Request) -> Backend:
    return backend(request)


async def change_hook(request: web.Request) -> web.Response:
    name = request.match_info["adapter"]
    adapter = ADAPTERS.get(name)
    if adapter is None:
        return web.json_response({"error": "no such webhook", "field": "adapter",
                                  "message": f"expected one of {', '.join(sorted(ADAPTERS))} or alertmanager"},
                                 status=404)
    daemon = _daemon(request)
    body, refused = await _authenticated_json(request, daemon)
    if refused is not None:
        return refused
    event = request.headers.get("X-GitHub-Event", "")
    if name == "github" and event == "ping":
        return web.json_response({"pong": True})
    ctx = {k: clean_text(v, 253, single_line=True) for k, v in (
        ("event", event), ("service", request.query.get("service", "")),
        ("namespace", request.query.get("namespace", ""))) if v}
    with edge_times(daemon.time_window, daemon.clock):
        changes = [check_change(c) for c in adapter(body, ctx)]
    if not changes:
        return web.json_response({"accepted": 0, "duplicates": 0, "ids": [], "ignored": True}, status=202)
    daemon.admit(name, len(changes))
    inserted = await daemon.submit_changes(changes, source=name)
    log.info("webhook %s: %d change(s), %d new", name, len(changes), sum(inserted),
             extra={"change_ids": [c.id for c in changes]})
    return web.json_response({"accepted": sum(inserted), "duplicates": len(inserted) - sum(inserted),
                              "ids": [c.id for c in changes], "ignored": False}, status=202)


async def alertmanager_hook(request: web.Request) -> web.Response:
    daemon = _daemon(request)
    body, refused = await _authenticated_json(request, daemon)
    if refused is not None:
        return refused
    with edge_times(daemon.time_window, daemon.clock):
        events, skipped = alerts_from_webhook(body, _settings(daemon).service_labels)
    daemon.admit_alerts(events)
    await daemon.submit_alerts(events)
    if skipped:
        log.warning("alertmanager webhook: %d alert(s) without a service label skipped (labels tried: %s)",
                    skipped, ", ".join(_settings(daemon).service_labels))
    return web.json_response({"accepted": len(events), "skipped": skipped,
                              "firing": sum(e.firing for e in events)}, status=202)


def add_routes(app: web.Application) -> None:
    """Register the webhook routes on the API application."""
    daemon = backend_of(app)
    if daemon is not None and _settings(daemon).open:
        log.warning("webhooks under /api/v1/webhooks/ accept unauthenticated calls: configure "
                    "webhooks.bearer_tokens or webhooks.hmac_secrets unless the network is trusted")
    app.router.add_post("/api/v1/webhooks/alertmanager", alertmanager_hook)
    app.router.add_post("/api/v1/webhooks/{adapter}", change_hook)
