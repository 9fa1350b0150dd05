"""Signal templates: name the instrumentation and the service label, get error ratio, latency and rate.

Each template expands to three PromQL signals per service (``error_ratio``,
``latency_pNN_seconds``, ``request_rate``), split by the template's service label.
Pure: no I/O. Custom PromQL signals are given as ``signals`` next to templates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["TEMPLATES", "ExpandedSignal", "Template", "expand"]


@dataclass(frozen=True)
class Template:
    """How one kind of instrumentation counts requests, failures and latency.

    ``{sel}`` in the selectors is replaced by the user's extra matchers (with a leading comma).
    """

    service_label: str
    total: str            # a counter of requests: rate(total[w]) is requests per second
    errors: str           # the same counter restricted to server failures
    buckets: str          # a histogram's _bucket series
    latency_scale: float = 1.0  # multiply to get seconds (Istio reports milliseconds)


_GRPC_SERVER_ERRORS = "Unknown|DeadlineExceeded|Unimplemented|Internal|Unavailable|DataLoss|ResourceExhausted"

TEMPLATES: dict[str, Template] = {
    # Prometheus client libraries' conventional names (e.g. promhttp, prometheus-flask-exporter)
    "http": Template("job", 'http_requests_total{{{sel}}}', 'http_requests_total{{code=~"5..",{sel}}}',
                     'http_request_duration_seconds_bucket{{{sel}}}'),
    # Spring Boot / Micrometer
    "spring": Template("application", 'http_server_requests_seconds_count{{{sel}}}',
                       'http_server_requests_seconds_count{{outcome="SERVER_ERROR",{sel}}}',
                       'http_server_requests_seconds_bucket{{{sel}}}'),
    # Istio standard metrics, as seen by the destination
    "istio": Template("destination_service_name", 'istio_requests_total{{reporter="destination",{sel}}}',
                      'istio_requests_total{{reporter="destination",response_code=~"5..",{sel}}}',
                      'istio_request_duration_milliseconds_bucket{{reporter="destination",{sel}}}',
                      latency_scale=0.001),
    # ingress-nginx controller
    "ingress_nginx": Template("ingress", 'nginx_ingress_controller_requests{{{sel}}}',
                              'nginx_ingress_controller_requests{{status=~"5..",{sel}}}',
                              'nginx_ingress_controller_request_duration_seconds_bucket{{{sel}}}'),
    # go-grpc-prometheus / grpc-ecosystem middleware
    "grpc": Template("grpc_service", 'grpc_server_handled_total{{{sel}}}',
                     f'grpc_server_handled_total{{{{grpc_code=~"{_GRPC_SERVER_ERRORS}",{{sel}}}}}}',
                     'grpc_server_handling_seconds_bucket{{{sel}}}'),
}


@dataclass(frozen=True)
class ExpandedSignal:
    name: str
    query: str
    service_label: str


def _selector(service_label: str, services: Sequence[str], extra: str) -> str:
    parts = []
    if services:
        escaped = "|".join(s.replace("\\", "\\\\").replace('"', '\\"') for s in services)
        parts.append(f'{service_label}=~"{escaped}"')
    if extra.strip():
        parts.append(extra.strip().strip("{}").strip(","))
    return ",".join(parts)


def _fill(pattern: str, sel: str) -> str:
    return pattern.format(sel=sel).replace(",}", "}").replace("{,", "{").replace("{}", "")


def _quantile_name(q: float) -> str:
    digits = f"{q * 100:g}".replace(".", "")
    return f"latency_p{digits}_seconds"


def _sum(by: str) -> str:
    return f"sum by ({by})" if by else "sum"


def expand(template: str, *, window: float, services: Sequence[str] = (), service_label: str | None = None,
           selector: str = "", quantile: float = 0.99, by: str | None = None) -> list[ExpandedSignal]:
    """The three signals of ``template``.

    ``by`` is the label the sums keep: the service label unless given; ``""`` sums over all the
    selected series (one series for several services together, as a confirm test's arm over the
    users of a dependency needs: a sum of per-service error ratios would be no ratio).

    >>> [s.name for s in expand("http", window=120)]
    ['error_ratio', 'latency_p99_seconds', 'request_rate']
    >>> expand("http", window=120, services=["checkout"])[2].query
    'sum by (job) (rate(http_requests_total{job=~"checkout"}[120s]))'
    >>> expand("istio", window=60, quantile=0.95)[1].query  # doctest: +NORMALIZE_WHITESPACE
    'histogram_quantile(0.95, sum by (destination_service_name, le)
     (rate(istio_request_duration_milliseconds_bucket{reporter="destination"}[60s]))) * 0.001'
    >>> expand("http", window=60, services=["a", "b"], by="")[2].query
    'sum (rate(http_requests_total{job=~"a|b"}[60s]))'
    """
    t = TEMPLATES[template]
    label = service_label or t.service_label
    keep = label if by is None else by
    sel = _selector(label, services, selector)
    w = f"{window:g}s"
    total = f"{_sum(keep)} (rate({_fill(t.total, sel)}[{w}]))"
    errors = f"{_sum(keep)} (rate({_fill(t.errors, sel)}[{w}]))"
    by_le = f"{keep}, le" if keep else "le"
    latency = f"histogram_quantile({quantile:g}, sum by ({by_le}) (rate({_fill(t.buckets, sel)}[{w}])))"
    if t.latency_scale != 1.0:
        latency += f" * {t.latency_scale:g}"
    # errors absent (no failure yet) means 0, not "no data": fill from the total's series
    ratio = f"({errors} or ({total} * 0)) / {total}"
    return [ExpandedSignal("error_ratio", ratio, label), ExpandedSignal(_quantile_name(quantile), latency, label),
            ExpandedSignal("request_rate", total, label)]
