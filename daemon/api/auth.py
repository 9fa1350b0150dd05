"""Access to the API and pages: read-only and write tokens.

- No tokens configured at all: everything is open (the demo); the daemon logs a warning at start.
- Read tokens configured: reads need a read or a write token.
- Any token configured: writes (feedback, hypotheses, silences, changes) need a write token;
  with read tokens only, nobody writes.
- Write tokens only: reads are open.
- ``/healthz``, ``/readyz``, ``/metrics``, ``/static/`` and the login page stay open.

A token comes in ``Authorization: Bearer TOKEN``. For reads from a browser, the
``whatchanged_token`` cookie (set by ``POST /login``, HttpOnly, SameSite=Strict) is
accepted too; writes take the header only, so a forged cross-site request cannot write.
Tokens are compared with :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

__all__ = ["COOKIE", "OPEN_PATHS", "Access", "ApiTokens", "auth_middleware"]

COOKIE = "whatchanged_token"
OPEN_PATHS = ("/healthz", "/readyz", "/metrics", "/login", "/static/", "/favicon.ico",
              "/api/v1/webhooks/")  # webhook receivers check their senders' own signatures


class Access(enum.IntEnum):
    NONE = 0
    READ = 1
    WRITE = 2


@dataclass(frozen=True)
class ApiTokens:
    """Resolved tokens (bytes); empty tuples mean that kind of access is open."""

    read: tuple[bytes, ...] = ()
    write: tuple[bytes, ...] = ()

    @classmethod
    def of(cls, read: Iterable[str] = (), write: Iterable[str] = ()) -> ApiTokens:
        return cls(tuple(t.encode() for t in read if t), tuple(t.encode() for t in write if t))

    @property
    def open(self) -> bool:
        return not self.read and not self.write

    @staticmethod
    def _match(token: bytes, candidates: Sequence[bytes]) -> bool:
        ok = False
        for c in candidates:  # compare with every token: the time taken does not say which matched
            ok |= hmac.compare_digest(token, c)
        return ok

    def access(self, token: str | None) -> Access:
        """What ``token`` may do.

        >>> t = ApiTokens.of(read=["r"], write=["w"])
        >>> t.access("w"), t.access("r"), t.access("x"), t.access(None)
        (<Access.WRITE: 2>, <Access.READ: 1>, <Access.NONE: 0>, <Access.NONE: 0>)
        >>> ApiTokens.of(write=["w"]).access(None), ApiTokens.of(read=["r"]).access("r")
        (<Access.READ: 1>, <Access.READ: 1>)
        >>> ApiTokens().access(None)
        <Access.WRITE: 2>
        """
        if self.open:
            return Access.WRITE
        tok = token.encode() if token else b""
        if tok and self._match(tok, self.write):
            return Access.WRITE
        if not self.read or (tok and self._match(tok, self.read)):
            return Access.READ
        return Access.NONE


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def _deny(status: int, message: str, html: bool) -> web.StreamResponse:
    if html:
        raise web.HTTPFound("/login")
    return web.json_response({"error": message, "field": "Authorization", "message": message}, status=status,
                             headers={"WWW-Authenticate": 'Bearer realm="whatchanged"'} if status == 401 else None)


def auth_middleware(tokens_of: Any) -> Any:
    """Build the middleware; ``tokens_of(request)`` returns the app's :class:`ApiTokens`."""

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        tokens: ApiTokens = tokens_of(request)
        path = request.path
        if tokens.open or path.startswith(OPEN_PATHS):
            return await handler(request)  # type: ignore[no-any-return]
        write = request.method not in ("GET", "HEAD", "OPTIONS")
        token = _bearer(request)
        if token is None and not write:
            token = request.cookies.get(COOKIE)
        granted = tokens.access(token)
        need = Access.WRITE if write else Access.READ
        if granted < need:
            html = not write and not path.startswith("/api/") and token is None
            if token is None:
                return _deny(401, "a token is required (Authorization: Bearer TOKEN)", html)
            return _deny(403, "this token may not " + ("write" if write else "read"), False)
        return await handler(request)  # type: ignore[no-any-return]

    return middleware
