"""Local stand-ins for PagerDuty, Opsgenie, Slack and a webhook receiver, on loopback.

Each validates every request against the published schema and limits (a payload
outside them gets the 400 the real service would answer, and is counted as a
violation), dedupes on the key the real service dedupes on, and can be scripted
to answer 500, 429 with Retry-After, or to hang, for the next requests.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import jsonschema
from aiohttp import web

ROUTING_KEY = "R" * 32
GENIE_KEY = "genie-key-123"
SLACK_TOKEN = "xoxb-test-token"

# PagerDuty Events API v2 (developer.pagerduty.com/api-reference/368ae3d938c9e-send-an-event-to-pager-duty)
PD_EVENT = {
    "type": "object", "additionalProperties": False, "required": ["routing_key", "event_action"],
    "properties": {
        "routing_key": {"type": "string", "minLength": 32, "maxLength": 32},
        "event_action": {"enum": ["trigger", "acknowledge", "resolve"]},
        "dedup_key": {"type": "string", "minLength": 1, "maxLength": 255},
        "payload": {
            "type": "object", "additionalProperties": False, "required": ["summary", "source", "severity"],
            "properties": {
                "summary": {"type": "string", "minLength": 1, "maxLength": 1024},
                "source": {"type": "string", "minLength": 1},
                "severity": {"enum": ["critical", "error", "warning", "info"]},
                "timestamp": {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$"},
                "component": {"type": "string"}, "group": {"type": "string"}, "class": {"type": "string"},
                "custom_details": {"type": "object"},
            },
        },
        "images": {"type": "array"},
        "links": {"type": "array", "items": {"type": "object", "required": ["href"], "additionalProperties": False,
                                             "properties": {"href": {"type": "string"}, "text": {"type": "string"}}}},
        "client": {"type": "string"}, "client_url": {"type": "string"},
    },
    "if": {"properties": {"event_action": {"const": "trigger"}}},
    "then": {"required": ["payload"]}, "else": {"required": ["dedup_key"]},
}

# PagerDuty Change Events API (developer.pagerduty.com/api-reference/95db350959c37-send-change-events-to-the-pager-duty-events-api)
PD_CHANGE = {
    "type": "object", "additionalProperties": False, "required": ["routing_key", "payload"],
    "properties": {
        "routing_key": {"type": "string", "minLength": 32, "maxLength": 32},
        "payload": {"type": "object", "additionalProperties": False, "required": ["summary"], "properties": {
            "summary": {"type": "string", "minLength": 1, "maxLength": 1024},
            "timestamp": {"type": "string"}, "source": {"type": "string"}, "custom_details": {"type": "object"}}},
        "links": {"type": "array", "items": {"type": "object", "required": ["href"]}},
        "images": {"type": "array"},
    },
}

# Opsgenie Alert API (docs.opsgenie.com/docs/alert-api)
_RESPONDER = {"type": "object", "required": ["type"], "properties": {
    "type": {"enum": ["team", "user", "escalation", "schedule"]}, "name": {"type": "string"},
    "id": {"type": "string"}, "username": {"type": "string"}}}
OG_CREATE = {
    "type": "object", "additionalProperties": False, "required": ["message"],
    "properties": {
        "message": {"type": "string", "minLength": 1, "maxLength": 130},
        "alias": {"type": "string", "maxLength": 512},
        "description": {"type": "string", "maxLength": 15000},
        "responders": {"type": "array", "maxItems": 50, "items": _RESPONDER},
        "visibleTo": {"type": "array", "maxItems": 50, "items": _RESPONDER},
        "actions": {"type": "array", "maxItems": 10, "items": {"type": "string", "maxLength": 50}},
        "tags": {"type": "array", "maxItems": 20, "items": {"type": "string", "maxLength": 50}},
        "details": {"type": "object", "additionalProperties": {"type": "string"}},
        "entity": {"type": "string", "maxLength": 512}, "source": {"type": "string", "maxLength": 100},
        "priority": {"enum": ["P1", "P2", "P3", "P4", "P5"]}, "user": {"type": "string", "maxLength": 100},
        "note": {"type": "string", "maxLength": 25000},
    },
}
OG_ACTION = {"type": "object", "additionalProperties": False, "properties": {
    "user": {"type": "string", "maxLength": 100}, "source": {"type": "string", "maxLength": 100},
    "note": {"type": "string", "maxLength": 25000}}}
OG_NOTE = {**OG_ACTION, "required": ["note"]}

# Slack Block Kit (api.slack.com/reference/block-kit/blocks) and chat.postMessage / chat.update
_TEXT = {"type": "object", "required": ["type", "text"], "properties": {
    "type": {"enum": ["plain_text", "mrkdwn"]}, "text": {"type": "string", "minLength": 1, "maxLength": 3000},
    "emoji": {"type": "boolean"}}}
_PLAIN = {"type": "object", "required": ["type", "text"], "properties": {"type": {"const": "plain_text"},
                                                                          "text": {"type": "string"}}}
SLACK_BLOCK = {"oneOf": [
    {"type": "object", "required": ["type", "text"], "properties": {
        "type": {"const": "header"},
        "text": {**_PLAIN, "properties": {"type": {"const": "plain_text"},
                                          "text": {"type": "string", "minLength": 1, "maxLength": 150},
                                          "emoji": {"type": "boolean"}}}}},
    {"type": "object", "required": ["type", "text"], "properties": {"type": {"const": "section"}, "text": _TEXT}},
    {"type": "object", "required": ["type", "elements"], "properties": {
        "type": {"const": "context"}, "elements": {"type": "array", "minItems": 1, "maxItems": 10, "items": _TEXT}}},
    {"type": "object", "required": ["type", "elements"], "properties": {
        "type": {"const": "actions"}, "elements": {"type": "array", "minItems": 1, "maxItems": 25, "items": {
            "type": "object", "required": ["type", "text"], "properties": {
                "type": {"const": "button"}, "url": {"type": "string", "maxLength": 3000},
                "text": {**_PLAIN, "properties": {"type": {"const": "plain_text"},
                                                  "text": {"type": "string", "minLength": 1, "maxLength": 75}}}}}}}},
    {"type": "object", "required": ["type"], "properties": {"type": {"const": "divider"}}},
]}
SLACK_MESSAGE = {
    "type": "object", "required": ["channel"],
    "properties": {"channel": {"type": "string", "minLength": 1}, "text": {"type": "string", "maxLength": 40000},
                   "blocks": {"type": "array", "maxItems": 50, "items": SLACK_BLOCK},
                   "thread_ts": {"type": "string"}, "ts": {"type": "string"}},
    "anyOf": [{"required": ["text"]}, {"required": ["blocks"]}],
}
SLACK_WEBHOOK = {"type": "object", "properties": {
    "text": {"type": "string", "maxLength": 40000}, "blocks": {"type": "array", "maxItems": 50, "items": SLACK_BLOCK}},
    "anyOf": [{"required": ["text"]}, {"required": ["blocks"]}]}


class Receivers:
    """The state of all local receivers: what each accepted, violations, scripted failures."""

    def __init__(self, webhook_secret: bytes = b"s3cret") -> None:
        self.webhook_secret = webhook_secret
        self.requests: list[tuple[str, Any]] = []        # every request (path, body), accepted or not
        self.violations: list[str] = []
        self.script: dict[str, list[Any]] = {}           # path prefix -> [500 | 429 | "hang" | ...]
        self.pd_events: list[dict[str, Any]] = []
        self.pd_incidents: dict[str, str] = {}            # dedup_key -> status (triggered|acknowledged|resolved)
        self.pd_pages = 0                                  # times a responder's phone rang
        self.pd_changes: list[dict[str, Any]] = []
        self.og_alerts: dict[str, dict[str, Any]] = {}
        self.og_pages = 0
        self.slack_messages: dict[str, dict[str, Any]] = {}  # ts -> message
        self.slack_posts = 0
        self.slack_updates = 0
        self.slack_hook_posts: list[dict[str, Any]] = []
        self.hook_keys: dict[str, int] = {}                # Idempotency-Key -> times seen
        self.hook_accepted: list[dict[str, Any]] = []      # deduped, as a responder sees them
        self.hold = asyncio.Event()                        # "hang" waits on this

    async def _scripted(self, path: str) -> web.StreamResponse | None:
        for prefix, steps in self.script.items():
            if path.startswith(prefix) and steps:
                step = steps.pop(0)
                if step == "hang":
                    await self.hold.wait()
                    return web.json_response({"status": "too late"}, status=503)
                if step == 429:
                    return web.json_response({"status": "throttled"}, status=429, headers={"Retry-After": "1"})
                return web.json_response({"status": "error"}, status=int(step))
        return None

    async def _receive(self, request: web.Request) -> tuple[Any, web.StreamResponse | None]:
        """Read and record a JSON request; the scripted answer if one is due for its path."""
        body = await request.json()
        self.requests.append((request.path, body))
        return body, await self._scripted(request.path)

    def _check(self, schema: dict[str, Any], body: Any, what: str) -> web.Response | None:
        try:
            jsonschema.validate(body, schema)
        except jsonschema.ValidationError as e:
            self.violations.append(f"{what}: {e.message} at {list(e.absolute_path)}")
            return web.json_response({"status": "invalid event", "errors": [e.message]}, status=400)
        return None

    # -- PagerDuty -------------------------------------------------------------------
    async def pagerduty(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw)
        self.requests.append((request.path, body))
        if (r := await self._scripted(request.path)) is not None:
            return r
        if len(raw) > 512 * 1024:
            self.violations.append("pagerduty: event larger than 512 KB")
            return web.json_response({"status": "invalid event"}, status=400)
        if (bad := self._check(PD_EVENT, body, "pagerduty")) is not None:
            return bad
        if body["routing_key"] != ROUTING_KEY:
            return web.json_response({"status": "invalid routing key"}, status=400)
        key = body.get("dedup_key") or f"auto-{len(self.pd_events)}"
        self.pd_events.append(body)
        state = self.pd_incidents.get(key)
        if body["event_action"] == "trigger":
            if state in (None, "resolved"):
                self.pd_pages += 1  # a new alert: the phone rings
                self.pd_incidents[key] = "triggered"
        elif state is not None and state != "resolved":
            self.pd_incidents[key] = {"acknowledge": "acknowledged", "resolve": "resolved"}[body["event_action"]]
        return web.json_response({"status": "success", "message": "Event processed", "dedup_key": key},
                                 status=202)

    async def pagerduty_change(self, request: web.Request) -> web.StreamResponse:
        body, scripted = await self._receive(request)
        if scripted is not None:
            return scripted
        if (bad := self._check(PD_CHANGE, body, "pagerduty change")) is not None:
            return bad
        self.pd_changes.append(body)
        return web.json_response({"status": "success", "message": "Change event processed"}, status=202)

    # -- Opsgenie --------------------------------------------------------------------
    async def opsgenie(self, request: web.Request) -> web.StreamResponse:
        body, scripted = await self._receive(request)
        if scripted is not None:
            return scripted
        if request.headers.get("Authorization") != f"GenieKey {GENIE_KEY}":
            return web.json_response({"message": "Could not authenticate"}, status=401)
        alias = request.match_info.get("alias")
        if alias is None:
            if (bad := self._check(OG_CREATE, body, "opsgenie create")) is not None:
                return bad
            a = self.og_alerts.get(body.get("alias", ""))
            if a is None or a["status"] == "closed":
                self.og_pages += 1
                self.og_alerts[body.get("alias", "")] = {"status": "open", "notes": [], "count": 1, **body}
            else:
                a["count"] += 1  # deduplicated on alias
        else:
            if request.query.get("identifierType") != "alias":
                self.violations.append("opsgenie: identifierType must be alias")
            action = request.match_info["action"]
            schema = OG_NOTE if action == "notes" else OG_ACTION
            if (bad := self._check(schema, body, f"opsgenie {action}")) is not None:
                return bad
            a = self.og_alerts.get(alias)
            if a is None:
                return web.json_response({"message": "Alert does not exist"}, status=404)
            if action == "notes":
                a["notes"].append(body["note"])
            else:
                a["status"] = {"close": "closed", "acknowledge": "acked"}[action]
        return web.json_response({"result": "Request will be processed", "took": 0.01, "requestId": "r1"},
                                 status=202)

    # -- Slack -----------------------------------------------------------------------
    async def slack_api(self, request: web.Request) -> web.StreamResponse:
        body, scripted = await self._receive(request)
        if scripted is not None:
            return scripted
        if request.headers.get("Authorization") != f"Bearer {SLACK_TOKEN}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if self._check(SLACK_MESSAGE, body, f"slack {request.match_info['method']}") is not None:
            return web.json_response({"ok": False, "error": "invalid_blocks"})
        method = request.match_info["method"]
        if method == "chat.postMessage":
            ts = f"{1790000000 + len(self.slack_messages)}.000100"
            self.slack_messages[ts] = {**body, "replies": []}
            if "thread_ts" in body:
                self.slack_messages[body["thread_ts"]]["replies"].append(body)
            else:
                self.slack_posts += 1
            return web.json_response({"ok": True, "channel": "C0123", "ts": ts})
        if method == "chat.update":
            msg = self.slack_messages.get(body["ts"])
            if msg is None:
                return web.json_response({"ok": False, "error": "message_not_found"})
            msg.update(body)
            self.slack_updates += 1
            return web.json_response({"ok": True, "channel": body["channel"], "ts": body["ts"]})
        return web.json_response({"ok": False, "error": "unknown_method"}, status=404)

    async def slack_hook(self, request: web.Request) -> web.StreamResponse:
        body, scripted = await self._receive(request)
        if scripted is not None:
            return scripted
        if self._check(SLACK_WEBHOOK, body, "slack webhook") is not None:
            return web.Response(text="invalid_blocks", status=400)
        self.slack_hook_posts.append(body)
        return web.Response(text="ok")

    # -- signed webhook ----------------------------------------------------------------
    async def webhook(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        key = request.headers.get("Idempotency-Key", "")
        self.requests.append((request.path, {"key": key}))
        self.hook_keys[key] = self.hook_keys.get(key, 0) + 1
        expected = "sha256=" + hmac.new(self.webhook_secret, raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("X-Whatchanged-Signature-256", "")):
            self.violations.append("webhook: bad signature")
            return web.json_response({"error": "bad signature"}, status=401)
        body = json.loads(raw)
        if body.get("key") != key:
            self.violations.append("webhook: body key differs from Idempotency-Key")
        if key not in {b["key"] for b in self.hook_accepted}:
            self.hook_accepted.append(body)  # received: a responder sees it (even if our answer gets lost)
        if (r := await self._scripted(request.path)) is not None:
            return r
        return web.json_response({"ok": True})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v2/enqueue", self.pagerduty)
        app.router.add_post("/v2/change/enqueue", self.pagerduty_change)
        app.router.add_post("/v2/alerts", self.opsgenie)
        app.router.add_post("/v2/alerts/{alias}/{action:notes|close|acknowledge}", self.opsgenie)
        app.router.add_post("/api/{method}", self.slack_api)
        app.router.add_post("/slack/hook", self.slack_hook)
        app.router.add_post("/hook", self.webhook)
        return app


@asynccontextmanager
async def serve_receivers(rec: Receivers | None = None) -> AsyncIterator[tuple[Receivers, str]]:
    """Start the receivers on a free loopback port; yields them and their base URL."""
    rec = rec or Receivers()
    runner = web.AppRunner(rec.app(), access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield rec, f"http://127.0.0.1:{port}"
    finally:
        rec.hold.set()
        await runner.cleanup()
