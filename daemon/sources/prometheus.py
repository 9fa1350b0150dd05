"""Poll a Prometheus-compatible API (Prometheus, Thanos, Mimir, VictoriaMetrics) for each signal.

prometheus-api-client is synchronous: every call runs in a worker thread, never on the event loop.
On start the source catches up from its stored cursor (at most ``lookback`` back) with
``query_range`` split to respect the 11,000-points-per-series limit, then polls every step,
aligned to step boundaries. A window is taken whole or not at all: when any query fails the
cursor stays, the source is marked in error (stale on /readyz and /metrics after
``stale_after``) and the window is fetched again after a backoff, so an outage never becomes a
gap in the data, let alone an anomaly.

Each query's result at one step is handed over whole, as one :class:`~daemon.core.events.SampleBatch`,
so the engine advances all its series together (a vectorised detector bank).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from ..config import HealthQueryConfig, PrometheusConfig, SignalConfig
from ..core.events import CatchUp, Event, ProbeResult, Sample, batched
from ..core.guard import bounded_id
from .base import SourceStatus

__all__ = [
    "MAX_POINTS",
    "CursorStore",
    "PrometheusError",
    "PrometheusSource",
    "connect",
    "probes_from_matrix",
    "samples_from_matrix",
]

log = logging.getLogger("whatchanged.prometheus")

MAX_POINTS = 11_000  # Prometheus refuses query_range answers of more points per series
_LABEL_MAX = 253     # the store's service and target columns


class CursorStore(Protocol):
    """Where a source keeps how far it has read (the daemon's ``store.cursors``)."""

    async def load(self, source: str) -> str | None: ...

    async def save(self, source: str, value: str, now: float | None = None) -> None: ...


class PrometheusError(Exception):
    """A failed query; ``retryable`` is False for answers that will not change (bad PromQL, auth)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


_STATUS = re.compile(r"HTTP Status Code (\d{3})")


def classify(e: BaseException) -> PrometheusError:
    """Map a client exception to a retryable or permanent :class:`PrometheusError`.

    >>> classify(Exception("HTTP Status Code 400 (b'bad_data: parse error')")).retryable
    False
    >>> classify(Exception("HTTP Status Code 503 (b'')")).retryable, classify(TimeoutError()).retryable
    (True, True)
    """
    if isinstance(e, PrometheusError):
        return e
    text = f"{type(e).__name__}: {e}"[:300]
    m = _STATUS.search(str(e))
    if m is not None:
        status = int(m.group(1))
        permanent = status in (400, 401, 403, 404, 422)
        return PrometheusError(text, retryable=not permanent)
    return PrometheusError(text, retryable=True)


def _series_labels(series: dict[str, Any]) -> dict[str, str]:
    """Label names and values as text any store can hold (no lone surrogate, no control character,
    at most 253 characters: a service or dependency name column), cleaned where they enter.

    >>> bad = "a" + chr(0xD800) + chr(0) + "b" + "x" * 300
    >>> got = _series_labels({"metric": {"service": bad}})["service"]
    >>> got[:4] == "a" + chr(0xFFFD) + "bx", len(got)
    (True, 253)
    """
    return {bounded_id(str(k), _LABEL_MAX): bounded_id(str(v), _LABEL_MAX)
            for k, v in (series.get("metric", {}) or {}).items()}


def _value(raw: Any) -> float:
    try:
        return float(raw)
    except (TypeError, ValueError):
        return math.nan


def samples_from_matrix(result: Sequence[dict[str, Any]], signal: str, service_label: str) -> list[Sample]:
    """Turn a ``query_range`` matrix into samples; series without the service label are named by their labels.

    >>> matrix = [{"metric": {"service": "api"}, "values": [[10, "0.5"], [20, "NaN"]]}]
    >>> for s in samples_from_matrix(matrix, "error_ratio", "service"):
    ...     print(s)
    Sample(ts=10.0, service='api', signal='error_ratio', value=0.5, series='')
    Sample(ts=20.0, service='api', signal='error_ratio', value=nan, series='')
    """
    out: list[Sample] = []
    for series in result:
        labels = _series_labels(series)
        service = labels.get(service_label)
        extra = {k: v for k, v in labels.items() if k not in (service_label, "__name__")}
        if not service:  # absent, or nothing left once cleaned
            service = ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or signal
        key = ""
        if extra:
            key = f"{service}/{signal}{{{','.join(f'{k}={v}' for k, v in sorted(extra.items()))}}}"
        for ts, raw in series.get("values", []):
            out.append(Sample(float(ts), str(service), signal, _value(raw), key))
    return out


def probes_from_matrix(result: Sequence[dict[str, Any]], target_label: str) -> list[ProbeResult]:
    """``up`` / ``probe_success`` style series (1 healthy, else unhealthy) as probe results.

    >>> matrix = [{"metric": {"instance": "db:5432"}, "values": [[10, "1"], [20, "0"]]}]
    >>> for p in probes_from_matrix(matrix, "instance"):
    ...     print(p)
    ProbeResult(ts=10.0, target='db:5432', healthy=True, detail='promql')
    ProbeResult(ts=20.0, target='db:5432', healthy=False, detail='promql')
    """
    out: list[ProbeResult] = []
    for series in result:
        labels = _series_labels(series)
        target = labels.get(target_label) or ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        for ts, raw in series.get("values", []):
            v = _value(raw)
            if math.isfinite(v):
                out.append(ProbeResult(float(ts), target, v >= 0.5, "promql"))
    return out


def connect(cfg: PrometheusConfig) -> Any:
    """A ``PrometheusConnect`` with the configured auth and TLS (blocking client: use from a thread)."""
    import requests
    from prometheus_api_client import PrometheusConnect
    from urllib3.util.retry import Retry

    session = requests.Session()
    session.verify = False if cfg.tls.insecure_skip_verify else (str(cfg.tls.ca_file) if cfg.tls.ca_file else True)
    if cfg.tls.cert_file is not None:
        session.cert = (str(cfg.tls.cert_file), str(cfg.tls.key_file)) if cfg.tls.key_file else str(cfg.tls.cert_file)
    headers = dict(cfg.headers)
    if cfg.bearer_token is not None:
        headers["Authorization"] = f"Bearer {cfg.bearer_token.resolve().get_secret_value()}"
    auth = None
    if cfg.basic_auth is not None:
        auth = (cfg.basic_auth.username, cfg.basic_auth.password.resolve().get_secret_value())
    # our own backoff decides retries; the client's would block the worker thread
    options: dict[str, Any] = {"headers": headers or None, "auth": auth, "timeout": cfg.timeout}
    return PrometheusConnect(url=cfg.url, session=session, retry=Retry(total=0, raise_on_status=False), **options)


class PrometheusSource:
    """Catch up from the stored cursor (at most ``lookback``), then poll every step on step boundaries.

    ``batch`` (the default) yields each query's result at each step as one ``SampleBatch``;
    without it, one ``Sample`` at a time, in the same order.
    """

    def __init__(self, cfg: PrometheusConfig, signals: Sequence[SignalConfig], status: SourceStatus,
                 *, health: Sequence[HealthQueryConfig] = (), clock: Callable[[], float] = time.time,
                 client: Any = None, cursor: CursorStore | None = None,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep, name: str = "prometheus",
                 batch: bool = True) -> None:
        self.name = name
        self.batch = batch
        self.cfg = cfg
        self.signals = list(signals)
        self.health = list(health)
        self.status = status
        self.clock = clock
        self.sleep = sleep
        self.cursor = cursor
        self._client = client
        self.settle = min(cfg.step, 15.0)  # the newest step may not be scraped yet everywhere

    def _connect(self) -> Any:
        if self._client is None:
            self._client = connect(self.cfg)
        return self._client

    def _query_range(self, query: str, start: float, end: float) -> list[dict[str, Any]]:
        """Blocking: ``query_range`` in chunks of at most ``MAX_POINTS`` steps, series merged."""
        client = self._connect()
        step = self.cfg.step
        merged: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
        chunk = step * (MAX_POINTS - 1)
        t = start
        while t <= end:
            t_end = min(end, t + chunk)
            try:
                part = client.custom_query_range(
                    query, start_time=datetime.fromtimestamp(t, UTC),
                    end_time=datetime.fromtimestamp(t_end, UTC), step=f"{step:g}s",
                    params={"timeout": f"{self.cfg.timeout:g}s"})
            except Exception as e:
                raise classify(e) from e
            for series in part:
                key = tuple(sorted(_series_labels(series).items()))
                entry = merged.setdefault(key, {"metric": series.get("metric", {}), "values": []})
                entry["values"].extend(series.get("values", []))
            t = t_end + step
        return list(merged.values())

    async def _range(self, query: str, start: float, end: float) -> list[dict[str, Any]]:
        n_chunks = 1 + int((end - start) / (self.cfg.step * (MAX_POINTS - 1)))
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation (CPython gh-86296)
        async with asyncio.timeout(self.cfg.timeout * 2 * n_chunks + 5):
            return await asyncio.to_thread(self._query_range, query, start, end)

    async def fetch(self, start: float, end: float) -> list[Event]:
        """Every signal and health query over ``[start, end]``, in timestamp order; all or an exception."""
        events: list[Event] = []
        for sig in self.signals:
            try:
                result = await self._range(sig.query, start, end)
            except PrometheusError as e:
                raise PrometheusError(f"signal {sig.name}: {e}", retryable=e.retryable) from e
            except TimeoutError:
                raise PrometheusError(f"signal {sig.name}: timed out", retryable=True) from None
            events.extend(samples_from_matrix(result, sig.name, sig.service_label))
        for h in self.health:
            try:
                result = await self._range(h.query, start, end)
            except (TimeoutError, PrometheusError) as e:
                raise PrometheusError(f"health {h.query!r}: {e}", retryable=getattr(e, "retryable", True)) from e
            events.extend(probes_from_matrix(result, h.target_label))
        events.sort(key=lambda ev: ev.ts)
        return events

    def _aligned(self, now: float) -> float:
        step = self.cfg.step
        return math.floor((now - self.settle) / step) * step

    async def _start_cursor(self) -> float:
        """The last step already read: the stored cursor, but never older than ``lookback``."""
        step = self.cfg.step
        floor = self._aligned(self.clock()) - math.ceil(self.cfg.lookback / step) * step
        if self.cursor is not None:
            try:
                stored = await self.cursor.load(self.name)
            except Exception as e:
                log.warning("cannot load the %s cursor (%s); catching up %.0fs", self.name, e, self.cfg.lookback)
                stored = None
            if stored is not None:
                try:
                    return max(floor, float(stored))
                except ValueError:
                    log.warning("ignoring unusable %s cursor %r", self.name, stored)
        return floor

    async def events(self) -> AsyncIterator[Event]:
        step = self.cfg.step
        cursor = await self._start_cursor()
        backoff = step
        while True:
            end = self._aligned(self.clock())
            if end > cursor:
                try:
                    batch = await self.fetch(cursor + step, end)
                except PrometheusError as e:
                    self.status.error(str(e))
                    delay = min(backoff, 300.0) * random.uniform(0.8, 1.2)
                    (log.warning if e.retryable else log.error)(
                        "prometheus %s failed (%s%s); retrying in %.0fs", self.cfg.url, e,
                        "" if e.retryable else ", will not succeed until fixed", delay)
                    await self.sleep(delay)
                    backoff = min(backoff * 2, 300.0)
                    continue
                backoff = step
                newest = max((ev.ts for ev in batch), default=None)
                self.status.ok(self.clock(), newest)
                if end - cursor > step:  # a catch-up (start-up, or after an outage): history before the head
                    yield CatchUp(end, self.name)
                for ev in batched(batch) if self.batch else batch:
                    yield ev
                cursor = end
                if self.cursor is not None:
                    try:
                        await self.cursor.save(self.name, f"{cursor:.3f}", now=self.clock())
                    except Exception as e:
                        log.warning("cannot save the %s cursor: %s", self.name, e)
            await self.sleep(max(0.5, end + step + self.settle - self.clock()))
