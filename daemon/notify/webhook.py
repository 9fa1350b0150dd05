"""A generic JSON webhook, signed with HMAC-SHA256 (``X-Whatchanged-Signature-256: sha256=<hex>``)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json

import aiohttp

from .http import classify_response
from .types import Page, Retryable

__all__ = ["WebhookNotifier", "sign"]

SIGNATURE_HEADER = "X-Whatchanged-Signature-256"


def sign(secret: bytes, body: bytes) -> str:
    """GitHub-style signature of ``body``.

    >>> sign(b"secret", b"{}")[:7], len(sign(b"secret", b"{}"))
    ('sha256=', 71)
    """
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookNotifier:
    def __init__(self, name: str, url: str, *, secret: bytes | None = None, timeout: float = 10.0,
                 session: aiohttp.ClientSession | None = None) -> None:
        self.name = name
        self.url = url
        self._secret = secret
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session

    async def send(self, page: Page, *, key: str) -> None:
        body = json.dumps({"version": 1, "key": key, **page.to_json()}, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": key, "User-Agent": "whatchanged"}
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(self._secret, body)
        session = self._session or aiohttp.ClientSession()
        try:
            async with session.post(self.url, data=body, headers=headers, timeout=self._timeout) as resp:
                text = await resp.text()
                classify_response(resp.status, resp.headers.get("Retry-After"), text)
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            raise Retryable(f"webhook {self.name}: {type(e).__name__}: {e}") from None
        finally:
            if self._session is None:
                await session.close()


