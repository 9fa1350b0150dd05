"""Classify HTTP answers from receivers as success, retryable or permanent."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from .types import Permanent, Retryable

__all__ = ["classify_response", "encode_json", "parse_retry_after", "post_json"]


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date).

    >>> parse_retry_after("30"), parse_retry_after(None), parse_retry_after("garbage")
    (30.0, None, None)
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (now if now is not None else time.time()))


def classify_response(status: int, retry_after: str | None, body: str) -> None:
    """Return on 2xx; raise :class:`Retryable` on 408/425/429/5xx, :class:`Permanent` otherwise."""
    if 200 <= status < 300:
        return
    snippet = body[:300].replace("\n", " ")
    if status in (408, 425, 429) or status >= 500:
        raise Retryable(f"HTTP {status}: {snippet}", parse_retry_after(retry_after))
    raise Permanent(f"HTTP {status}: {snippet}")


def encode_json(body: Any) -> bytes:
    """The exact bytes sent (what a signature covers).

    >>> encode_json({"a": [1, 2]})
    b'{"a":[1,2]}'
    """
    return json.dumps(body, separators=(",", ":")).encode()


async def post_json(session: aiohttp.ClientSession | None, url: str, body: Any, *, what: str,
                    headers: Mapping[str, str] | None = None, timeout: float = 10.0) -> Any:
    """POST ``body`` as JSON; return the decoded answer on 2xx, else raise Retryable or Permanent.

    Network errors and timeouts are retryable. ``session`` is reused when given (tests
    and long-lived notifiers), else one is opened for this request.
    """
    data = encode_json(body)
    hdrs = {"Content-Type": "application/json", "User-Agent": "whatchanged", **(headers or {})}
    own = session is None
    s = session or aiohttp.ClientSession()
    try:
        async with s.post(url, data=data, headers=hdrs, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            text = await resp.text()
            try:
                classify_response(resp.status, resp.headers.get("Retry-After"), text)
            except (Retryable, Permanent) as e:
                raise type(e)(f"{what}: {e}", *((e.retry_after,) if isinstance(e, Retryable) else ())) from None
    except (TimeoutError, aiohttp.ClientError) as e:
        raise Retryable(f"{what}: {type(e).__name__}: {e}") from None
    finally:
        if own:
            await s.close()
    try:
        return json.loads(text) if text else None
    except json.JSONDecodeError:
        return text
