"""Slack through slack-sdk's async clients: a Block Kit message updated in place, or an incoming webhook.

Bot-token mode posts the incident's first page with ``chat.postMessage``, stores the
message's channel and ``ts`` (the store's ``receiver_refs``), and turns every later
update and the resolve into ``chat.update`` of that same message; notes go to its
thread. Incoming-webhook mode cannot edit messages: each action is a new message.
slack-sdk's own retries are off: the outbox is the one place that retries.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import aiohttp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from .http import classify_response, parse_retry_after
from .render import clip, incident_details
from .types import Page, Permanent, Retryable

__all__ = ["MessageRefs", "SlackNotifier", "SlackWebhookNotifier", "slack_blocks"]

# Block Kit limits (api.slack.com/reference/block-kit): 50 blocks, header 150, section text 3000,
# button text 75, context 10 elements; chat.postMessage text: keep under 4000 (truncated at 40000).
MAX_BLOCKS, HEADER, SECTION, BUTTON, FALLBACK = 50, 150, 3000, 75, 3000
_RETRYABLE_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
_STATE = {"trigger": ":rotating_light: Open", "update": ":arrows_counterclockwise: Updated",
          "note": ":memo: Note", "acknowledge": ":eyes: Acknowledged", "resolve": ":white_check_mark: Resolved"}


class MessageRefs(Protocol):
    """Where a receiver keeps what identifies an incident's message (``store.refs`` implements it)."""

    async def get(self, dedup_key: str, receiver: str) -> dict[str, Any] | None: ...

    async def save(self, dedup_key: str, receiver: str, ref: dict[str, Any], now: float) -> None: ...


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": clip(text, SECTION)}


def slack_blocks(page: Page) -> list[dict[str, Any]]:
    """The page as Block Kit blocks, within Slack's limits."""
    d = incident_details(page.incident)
    drill = "[DRILL] " if page.drill and not page.title.startswith("[DRILL]") else ""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(drill + page.title, HEADER), "emoji": True}},
        {"type": "context", "elements": [_mrkdwn(
            f"{_STATE.get(page.action, page.action)} · {page.severity} · {', '.join(page.services[:6]) or '-'}"
            + (f" · {page.reason}" if page.reason and page.action != "trigger" else ""))]},
    ]
    if page.drill:
        blocks.append({"type": "section", "text": _mrkdwn(page.text or "This is a drill: no action needed.")})
    for c in d["candidates"][:5]:
        blocks.append({"type": "section", "text": _mrkdwn(
            f"*{c['rank']}. ({c['score']:.2f}) {c['cause']}*\n{c['hypothesis']}\n_Confirm:_ {c['test']}")})
    rec = d["recommendation"]
    if rec.get("command") or rec.get("why"):
        cmd = f"\n```{rec['command']}```" if rec.get("command") else ""
        blocks.append({"type": "section", "text": _mrkdwn(f"*Recommended ({rec.get('action', '')})*{cmd}\n"
                                                          f"{rec.get('why', '')}")})
    if d["dead_ends"]:
        blocks.append({"type": "context", "elements": [_mrkdwn(
            "Ruled out: " + "; ".join(f"{x['cause']} ({x['reason']})" for x in d["dead_ends"]))]})
    buttons = [(t, u) for t, u in (("Open incident", page.url), ("Runbook", page.runbook)) if u]
    if buttons:
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": clip(t, BUTTON)}, "url": u[:3000]}
            for t, u in buttons]})
    return blocks[:MAX_BLOCKS]


def _fallback(page: Page) -> str:
    drill = "[DRILL] " if page.drill and not page.title.startswith("[DRILL]") else ""
    return clip(f"{drill}{page.title}\n{page.text}", FALLBACK)


def _classify_slack(e: SlackApiError, what: str) -> Exception:
    resp = e.response
    error = str(resp.get("error", "")) if hasattr(resp, "get") else ""
    headers = {str(k).lower(): v for k, v in (getattr(resp, "headers", None) or {}).items()}
    status = int(getattr(resp, "status_code", 200) or 200)
    retry_after = headers.get("retry-after")
    if isinstance(retry_after, list):
        retry_after = retry_after[0]
    if status == 429 or status >= 500 or error in _RETRYABLE_ERRORS:
        return Retryable(f"{what}: HTTP {status} {error}", parse_retry_after(retry_after))
    return Permanent(f"{what}: HTTP {status} {error}")


class SlackNotifier:
    """Bot-token mode (``chat:write``): one message per incident per channel, updated in place."""

    def __init__(self, name: str, token: str, channel: str, *, refs: MessageRefs,
                 base_url: str = "https://slack.com/api/", timeout: float = 10.0) -> None:
        self.name = name
        self.channel = channel
        self._refs = refs
        self._client = AsyncWebClient(token=token, base_url=base_url.rstrip("/") + "/", timeout=int(max(1, timeout)),
                                      retry_handlers=[])

    def __repr__(self) -> str:
        return f"SlackNotifier({self.name!r}, channel={self.channel!r})"

    async def send(self, page: Page, *, key: str) -> None:
        what = f"slack {self.name}"
        try:
            await self._send(page, key)
        except SlackApiError as e:
            raise _classify_slack(e, what) from None
        except (TimeoutError, aiohttp.ClientError, SlackRequestError) as e:
            raise Retryable(f"{what}: {type(e).__name__}: {e}") from None

    async def _send(self, page: Page, key: str) -> None:
        text, blocks = _fallback(page), slack_blocks(page)
        ref = await self._refs.get(page.dedup_key, self.name)
        if ref is not None and page.action == "note":
            await self._client.chat_postMessage(channel=ref["channel"], thread_ts=ref["ts"], text=text)
            return
        if ref is not None:
            try:
                await self._client.chat_update(channel=ref["channel"], ts=ref["ts"], text=text, blocks=blocks)
                return
            except SlackApiError as e:
                if e.response.get("error") != "message_not_found":
                    raise
        resp = await self._client.chat_postMessage(
            channel=self.channel, text=text, blocks=blocks, unfurl_links=False,
            metadata={"event_type": "whatchanged_page", "event_payload": {"incident": page.incident_id, "key": key}})
        await self._refs.save(page.dedup_key, self.name, {"channel": resp["channel"], "ts": resp["ts"]},
                                  time.time())


class SlackWebhookNotifier:
    """Incoming-webhook mode: no token, no edits; every action is a new message."""

    def __init__(self, name: str, url: str, *, timeout: float = 10.0) -> None:
        self.name = name
        self._client = AsyncWebhookClient(url, timeout=int(max(1, timeout)), retry_handlers=[])

    def __repr__(self) -> str:  # the webhook URL is a secret
        return f"SlackWebhookNotifier({self.name!r})"

    async def send(self, page: Page, *, key: str) -> None:
        try:
            resp = await self._client.send(text=_fallback(page), blocks=slack_blocks(page), unfurl_links=False)
        except (TimeoutError, aiohttp.ClientError, SlackRequestError) as e:
            raise Retryable(f"slack webhook {self.name}: {type(e).__name__}: {e}") from None
        headers = {str(k).lower(): v for k, v in (resp.headers or {}).items()}
        retry_after = headers.get("retry-after")
        if isinstance(retry_after, list):
            retry_after = retry_after[0]
        classify_response(resp.status_code, retry_after, str(resp.body or ""))
