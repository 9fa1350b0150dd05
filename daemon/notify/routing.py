"""Routing: which receivers get an incident's page, by service and severity; each page's runbook."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from correlators.signals import SignalRole
from correlators.view import IncidentView

from .types import Page

__all__ = ["Route", "Router", "severity_of"]


def severity_of(doc: IncidentView | Mapping[str, Any]) -> str:
    """``critical`` when errors rose or several services are hit, else ``warning`` (latency on one service).

    A signal's role is the configured one the view carries, else the one its name implies.

    >>> a = {"service": "a", "onset": 0.0, "before": 0.0, "after": 1.0}
    >>> severity_of({"services": ["a"], "anomalies": [{**a, "signal": "error_ratio"}]})
    'critical'
    >>> severity_of({"services": ["a"], "anomalies": [{**a, "signal": "latency_p99_seconds"}]})
    'warning'
    >>> from correlators.signals import SignalRole
    >>> view = IncidentView.from_json({"services": ["a"], "anomalies": [{**a, "signal": "bad_calls"}]},
    ...                               roles={"bad_calls": SignalRole.ERRORS})
    >>> severity_of(view)
    'critical'
    """
    view = IncidentView.coerce(doc)
    if len(view.services) >= 2 or any(view.role(a.signal) is SignalRole.ERRORS for a in view.anomalies):
        return "critical"
    return "warning"


@dataclass(frozen=True)
class Route:
    """Matches when the incident touches one of ``services`` (any if empty) at one of ``severities``."""

    receivers: tuple[str, ...]
    services: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    team: str = ""
    continue_: bool = False

    def matches(self, services: Sequence[str], severity: str) -> bool:
        if self.severities and severity not in self.severities:
            return False
        return not self.services or any(s in self.services for s in services)


class Router:
    """Routes in order, first match wins unless it says ``continue``; ``default`` when none matches.

    Examples
    --------
    >>> r = Router([Route(("pd-pay", "slack-pay"), services=("checkout",), severities=("critical",))],
    ...            default=["slack-all"], runbooks={"checkout": "https://rb/checkout"})
    >>> p = Page("trigger", "i", "i", 0.0, "t", "", {"services": ["frontend", "checkout"]}, severity="critical")
    >>> r.receivers(p), r.runbook(["frontend", "checkout"])
    (['pd-pay', 'slack-pay'], 'https://rb/checkout')
    >>> r.receivers(Page("trigger", "i", "i", 0.0, "t", "", {"services": ["search"]}))
    ['slack-all']
    """

    def __init__(self, routes: Sequence[Route] = (), *, default: Sequence[str] = (),
                 runbooks: Mapping[str, str] | None = None) -> None:
        self.routes = list(routes)
        self.default = list(default)
        self.runbooks = dict(runbooks or {})

    def receivers(self, page: Page) -> list[str]:
        out: list[str] = []
        for route in self.routes:
            if route.matches(page.services, page.severity):
                out += [r for r in route.receivers if r not in out]
                if not route.continue_:
                    break
        return out or list(self.default)

    def runbook(self, services: Sequence[str]) -> str:
        """The runbook of the first service (earliest onset) that has one."""
        return next((self.runbooks[s] for s in services if self.runbooks.get(s)), "")
