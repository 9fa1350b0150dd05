"""What the HTTP API and the pages need of the running daemon, and the app key it is found under.

One protocol per concept lives in :mod:`daemon.core.ports`; :class:`Backend` is their sum plus
the adapters the handlers read (the store, the workspace, the metrics). The runtime's
:class:`~daemon.runtime.daemon.Daemon` satisfies it; the API imports no runtime class.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from correlators.types import Topology

from ..core.guard import TimeWindow
from ..core.ports import AlertSink, ChangeSink, ClusterView, FeedbackSink, Readiness
from ..store import Store
from ..telemetry.metrics import Metrics
from ..workspace.service import Workspace
from .auth import ApiTokens

if TYPE_CHECKING:
    from .webhooks import WebhookSettings

__all__ = ["BACKEND", "Backend", "backend", "backend_of"]


class Backend(ChangeSink, AlertSink, FeedbackSink, Readiness, ClusterView, Protocol):
    """The running daemon as the API sees it."""

    @property
    def store(self) -> Store: ...
    @property
    def workspace(self) -> Workspace: ...
    @property
    def metrics(self) -> Metrics: ...
    @property
    def api_tokens(self) -> ApiTokens: ...
    @property
    def webhooks(self) -> WebhookSettings | None: ...
    @property
    def base_url(self) -> str: ...
    @property
    def topology(self) -> Topology: ...
    @property
    def time_window(self) -> TimeWindow: ...
    @property
    def clock(self) -> Callable[[], float]: ...


BACKEND: web.AppKey[Backend] = web.AppKey("backend")


def backend(request: web.Request) -> Backend:
    """The daemon behind this request's app."""
    return request.app[BACKEND]


def backend_of(app: Any) -> Backend | None:
    """The daemon behind ``app``, or None for an app without one (a test's bare app)."""
    got: Backend | None = app.get(BACKEND)
    return got
