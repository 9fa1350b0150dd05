"""Structured JSON logs on stderr (a human format on a terminal)."""

from __future__ import annotations

import json
import logging
import sys
import time

from .redact import RedactingFilter

__all__ = ["JsonFormatter", "setup_logging"]

_EXTRA_KEYS = ("incident_id", "change_id", "receiver", "source", "key")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in _EXTRA_KEYS:
            if hasattr(record, key):
                doc[key] = getattr(record, key)
        if record.exc_text:
            doc["exc"] = record.exc_text
        elif record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


def setup_logging(level: str = "INFO", json_format: bool | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())  # secrets and webhook URLs never reach the log
    use_json = (not sys.stderr.isatty()) if json_format is None else json_format
    handler.setFormatter(JsonFormatter() if use_json else logging.Formatter(
        "%(asctime)s %(levelname)-5s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiohttp.access", "sqlalchemy", "alembic", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
