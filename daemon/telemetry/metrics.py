"""The daemon's own metrics, in a registry per daemon (nothing is registered at import)."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["BoundedLabels", "Metrics"]

OTHER = "other"


class BoundedLabels:
    """At most ``limit`` distinct values of a label that input chooses (alert names become signals):
    later new values are counted as ``other``, so /metrics stays small whatever is sent.

    >>> b = BoundedLabels(2)
    >>> [b("a"), b("b"), b("c"), b("a")]
    ['a', 'b', 'other', 'a']
    """

    def __init__(self, limit: int = 100) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        with self._lock:
            if len(self._seen) >= self.limit:
                return OTHER
            self._seen.add(value)
        return value


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.samples = Counter("whatchanged_samples_total", "Samples processed by the detectors", registry=r)
        self.series = Gauge("whatchanged_series", "Series watched", registry=r)
        self.detect_seconds = Histogram("whatchanged_event_seconds", "Time to process one event in the core",
                                        buckets=(1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0), registry=r)
        self.anomalies = Counter("whatchanged_anomalies_total", "Anomalies detected", ["signal"], registry=r)
        self.incidents_open = Gauge("whatchanged_incidents_open", "Incidents open", registry=r)
        self.changes = Counter("whatchanged_changes_total", "Changes recorded", ["source"], registry=r)
        self.notifications = Counter("whatchanged_notifications_total", "Notification attempts by outcome",
                                     ["receiver", "outcome"], registry=r)
        self.circuit_open = Gauge("whatchanged_notifier_circuit_open",
                                  "1 while a receiver's circuit breaker holds its pages back", ["receiver"],
                                  registry=r)
        self.outbox_depth = Gauge("whatchanged_outbox_depth", "Notifications waiting to be delivered", registry=r)
        self.source_errors = Counter("whatchanged_source_errors_total", "Errors of sources", ["source"], registry=r)
        self.source_up = Gauge("whatchanged_source_up", "1 if the source's last poll succeeded", ["source"],
                               registry=r)
        self.source_lag = Gauge("whatchanged_source_lag_seconds", "Age of the newest data from a source",
                                ["source"], registry=r)
        self.alerts = Counter("whatchanged_alerts_total", "External alerts received", ["status"], registry=r)
        self.cluster_leader = Gauge("whatchanged_cluster_leader", "1 while this replica leads (groups, ranks, pages)",
                                    registry=r)
        self.cluster_members = Gauge("whatchanged_cluster_members", "Live replicas seen by this one", registry=r)
        self.quarantined = Counter("whatchanged_quarantined_total",
                                   "Events set aside as unusable (bad time, unstorable text), by kind",
                                   ["kind"], registry=r)
        self.intake_refused = Counter("whatchanged_intake_refused_total",
                                      "Events refused with 429 (rate limit or full intake), by source", ["source"],
                                      registry=r)
        self.signal_label = BoundedLabels(100)  # the anomalies counter's signal label (alert names too)
        self.http_requests = Counter("whatchanged_http_requests_total", "API requests", ["route", "status"],
                                     registry=r)
