"""Keep secrets out of logs, error messages and API fields.

Every secret the config resolves is registered here (:func:`register`); :func:`redact`
replaces registered secrets and the credential-bearing parts of URLs (user info, path,
query: a Slack incoming-webhook URL *is* its secret) in any text about to be logged,
stored as an error, or answered. :class:`RedactingFilter` does it for every log record.
"""

from __future__ import annotations

import logging
import re
import threading

__all__ = ["RedactingFilter", "allow_host", "redact", "register"]

MASK = "[redacted]"
_secrets: set[str] = set()
_own_hosts: set[str] = set()  # host:port of the daemon's own pages (allow_host)
_lock = threading.Lock()
_URL = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{1,15}://)(?:[^/\s'\"<>@]*@)?([^/\s'\"<>?#]+)([/?#][^\s'\"<>]*)?")


def register(secret: str) -> None:
    """Never show ``secret`` (ignored when shorter than 4 characters: it would mask ordinary words)."""
    if len(secret) >= 4:
        with _lock:
            _secrets.add(secret)


def allow_host(url_or_host: str) -> None:
    """Show the paths of links to this host (the daemon's own pages): they carry no secret."""
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", url_or_host.strip(), flags=re.I).split("/")[0]
    host = host.rsplit("@", 1)[-1]
    if host:
        with _lock:
            _own_hosts.add(host.lower())


def _url(m: re.Match[str]) -> str:
    rest = m.group(3) or ""
    host = m.group(2).lower()
    if host in _own_hosts:
        return m.group(1) + m.group(2) + rest  # our own pages (credentials in user info still go)
    return m.group(1) + m.group(2) + ("/" + MASK if len(rest) > 1 else rest)


def redact(text: str) -> str:
    """``text`` without registered secrets, URL credentials, paths or queries.

    >>> register("s3cr3t-token")
    >>> redact("POST https://hooks.slack.com/services/T0/B0/XyZ failed: token s3cr3t-token refused")
    'POST https://hooks.slack.com/[redacted] failed: token [redacted] refused'
    >>> redact("connect to http://user:pw@db:5432 refused"), redact("see http://127.0.0.1:8081/incidents")
    ('connect to http://db:5432 refused', 'see http://127.0.0.1:8081/[redacted]')
    >>> allow_host("http://127.0.0.1:8081"); redact("see http://127.0.0.1:8081/incidents")
    'see http://127.0.0.1:8081/incidents'
    """
    if not text:
        return text
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for s in secrets:
        if s in text:
            text = text.replace(s, MASK)
    return _URL.sub(_url, text) if "://" in text else text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and exception text) through :func:`redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # a bad format string: leave the record as it is
            return True
        record.msg, record.args = redact(msg), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
