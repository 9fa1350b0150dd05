"""Poll a Prometheus-compatible API (Prometheus, Thanos, Mimir, VictoriaMetrics) for each signal.

prometheus-api-client is synchronous: every call runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from ..config import PrometheusConfig, SignalConfig
from ..events import Event, Sample
from .base import SourceStatus

__all__ = ["PrometheusSource", "samples_from_matrix", "MAX_POINTS"]

log = logging.getLogger("whatchanged.prometheus")

MAX_POINTS = 11_000  # Prometheus refuses query_range answers of more points per series


def samples_from_matrix(result: Sequence[dict[str, Any]], signal: str, service_label: str) -> list[Sample]:
    """Turn a ``query_range`` matrix into samples; series without the service label are named by their labels.

    >>> samples_from_matrix([{"metric": {"service": "api"}, "values": [[10, "0.5"], [20, "NaN"]]}], "error_ratio", "service")
    [Sample(ts=10.0, service='api', signal='error_ratio', value=0.5, series=''), Sample(ts=20.0, service='api', signal='error_ratio', value=nan, series='')]
    """
    out: list[Sample] = []
    for series in result:
        labels = series.get("metric", {}) or {}
        service = labels.get(service_label)
        extra = {k: v for k, v in labels.items() if k not in (service_label, "__name__")}
        if service is None:
            service = ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or signal
        key = ""
        if extra:
            key = f"{service}/{signal}{{{','.join(f'{k}={v}' for k, v in sorted(extra.items()))}}}"
        for ts, raw in series.get("values", []):
            try:
                value = float(raw)
            except (TypeError, ValueError):
                value = math.nan
            out.append(Sample(float(ts), str(service), signal, value, key))
    return out


class PrometheusSource:
    """Catch up from ``lookback`` on start, then poll every step aligned to step boundaries."""

    def __init__(self, cfg: PrometheusConfig, signals: Sequence[SignalConfig], status: SourceStatus,
                 *, clock: Callable[[], float] = time.time, client: Any = None) -> None:
        self.name = "prometheus"
        self.cfg = cfg
        self.signals = list(signals)
        self.status = status
        self.clock = clock
        self._client = client

    def _connect(self) -> Any:
        if self._client is None:
            from prometheus_api_client import PrometheusConnect
            headers = dict(self.cfg.headers)
            if self.cfg.bearer_token is not None:
                headers["Authorization"] = f"Bearer {self.cfg.bearer_token.resolve().get_secret_value()}"
            auth = None
            if self.cfg.basic_auth is not None:
                auth = (self.cfg.basic_auth.username, self.cfg.basic_auth.password.resolve().get_secret_value())
            self._client = PrometheusConnect(url=self.cfg.url, headers=headers or None,
                                             disable_ssl=self.cfg.tls.insecure_skip_verify, auth=auth)
        return self._client

    def _query(self, query: str, start: float, end: float) -> list[dict[str, Any]]:
        client = self._connect()
        step = self.cfg.step
        out: list[dict[str, Any]] = []
        chunk = step * (MAX_POINTS - 1)
        t = start
        while t <= end:
            t_end = min(end, t + chunk)
            out.extend(client.custom_query_range(
                query, start_time=datetime.fromtimestamp(t, timezone.utc),
                end_time=datetime.fromtimestamp(t_end, timezone.utc), step=f"{step:g}s",
                params={"timeout": f"{self.cfg.timeout:g}s"}))
            t = t_end + step
        return out

    async def _poll(self, start: float, end: float) -> list[Sample]:
        samples: list[Sample] = []
        for sig in self.signals:
            result = await asyncio.wait_for(asyncio.to_thread(self._query, sig.query, start, end),
                                            timeout=self.cfg.timeout * 3)
            samples.extend(samples_from_matrix(result, sig.name, sig.service_label))
        samples.sort(key=lambda s: s.ts)
        return samples

    async def events(self) -> AsyncIterator[Event]:
        step = self.cfg.step
        cursor = math.floor((self.clock() - self.cfg.lookback) / step) * step
        backoff = step
        while True:
            now = self.clock()
            end = math.floor(now / step) * step
            if end > cursor:
                try:
                    samples = await self._poll(cursor + step, end)
                except Exception as e:  # noqa: BLE001 - any failure: stale, back off, never a gap-anomaly
                    self.status.error(f"{type(e).__name__}: {e}")
                    log.warning("prometheus poll failed (%s); retrying in %.0fs", e, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 300.0)
                    continue
                backoff = step
                self.status.ok(self.clock(), samples[-1].ts if samples else None)
                for s in samples:
                    yield s
                cursor = end
            await asyncio.sleep(max(0.5, end + step - self.clock() + 1.0))
