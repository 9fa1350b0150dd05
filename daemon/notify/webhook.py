"""A generic JSON webhook, signed with HMAC-SHA256 (``X-Whatchanged-Signature-256: sha256=<hex>``)."""

from __future__ import annotations

import hashlib
import hmac

import aiohttp

from .http import encode_json as _encode
from .http import post_json
from .types import Page

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
        self._timeout = timeout
        self._session = session

    async def send(self, page: Page, *, key: str) -> None:
        body = {"version": 1, "key": key, **page.to_json()}
        headers = {"Idempotency-Key": key}
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(self._secret, _encode(body))
        await post_json(self._session, self.url, body, what=f"webhook {self.name}", headers=headers,
                        timeout=self._timeout)
