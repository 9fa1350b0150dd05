"""The parsers of ``run``, ``check-config`` and ``demo``, and ``check-config`` itself.

Nothing heavy is imported here (the daemon, the store, numpy): ``whatchanged demo --help``
answers at once; a command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import Config

__all__ = ["DEMO_KINDS", "add_parsers", "check_config", "explain", "human_duration"]

# The demo's incident kinds in the order it injects them, in words (daemon.demo.incidents.INCIDENT_KINDS;
# a test keeps the two equal without importing numpy here).
DEMO_KINDS = (
    ("bad_deploy", "a bad deploy"),
    ("dependency_down", "a dependency outage"),
    ("traffic_spike", "a traffic spike"),
    ("bad_config", "a bad config"),
    ("bad_flag", "a bad feature flag"),
    ("slow_creep", "a slow creep (a leaky release)"),
    ("callee_deploy", "a bad deploy of a called service"),
)


def human_duration(seconds: float) -> str:
    """``30s``, ``15m``, ``1h``, ``30d``, ``90s``.

    >>> [human_duration(s) for s in (30, 900, 3600, 30 * 86400, 90, 0.5)]
    ['30s', '15m', '1h', '30d', '90s', '0.5s']
    """
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def explain(cfg: Config) -> list[str]:
    """Every PromQL query and every window the daemon will use, as ``check-config --explain`` prints them."""
    d = human_duration
    out: list[str] = []
    prom = cfg.prometheus
    if prom is not None:
        out.append(f"Prometheus {prom.url}: each query every {d(prom.step)} (timeout {d(prom.timeout)}); "
                   f"{d(prom.lookback)} of history read at start")
        if cfg.templates:
            from ..config import rate_window
            out.append(f"Templates' rate window: {d(rate_window(prom.step, prom.scrape_interval))} by default, "
                       f"max(step, 2 x prometheus.scrape_interval = {d(prom.scrape_interval)}), so that a "
                       "one-step glitch stays one sample")
    signals = cfg.all_signals()
    out.append(f"Signals ({len(signals)}; one series per value of the service label):" if signals
               else "Signals: none (only probes, webhooks and Kubernetes feed this daemon)")
    for s in signals:
        out.append(f"  {s.name}  [service label {s.service_label}; bad direction {s.bad_direction}]")
        out += [f"    {line}" for line in " ".join(s.query.split()).splitlines()]
    if cfg.health_queries:
        out.append("Dependency health queries (1 = healthy):")
        out += [f"  {h.query}  [target label {h.target_label}]" for h in cfg.health_queries]
    for p in cfg.probes:
        out.append(f"Probe {p.target}: GET {p.url} every {d(p.interval)}, timeout {d(p.timeout)}, "
                   f"healthy on {p.expect_status}")
    det, dl = cfg.detection, cfg.delivery
    from ..core.policy import policies
    pol = policies(prom.step if prom is not None else 30.0, det, signals)
    g, r = pol.grouping, pol.ranking
    out += ["Windows:",
            f"  anomalies within {d(g.window)} of each other form one incident (detection.group_window)",
            (f"  an incident takes nothing {d(g.max_span)} after its onset nor {d(g.quiet_gap)} after its last "
             f"detection; a resolved one re-opens only for the same series within {d(g.reopen_within)}"),
            f"  a change is a candidate up to {d(r.lookback)} before the onset, and up to {d(r.tolerance)} after it",
            f"  a page needs confidence >= {g.min_confidence:.2f} (detection.page_min_confidence)",
            f"  seasonal baseline (a learnt daily shape) for: {', '.join(det.seasonal) or 'none'}",
            f"  a resolve is held {d(dl.resolve_hold)} in case the incident relapses (delivery.resolve_hold)",
            (f"  deliveries retried up to {dl.max_attempts} times, backoff {d(dl.backoff_base)} to "
             f"{d(dl.backoff_cap)} (delivery)"),
            f"  history kept {d(cfg.store.retention)} (store.retention)"]
    out.append("What pages (detection.impact, detection.impact_overrides, detection.roles; docs/impact.md):")
    impact = g.impact
    for role, bar in sorted(impact.bars.items(), key=lambda kv: kv[0].value):
        if role.value == "traffic":
            out.append(f"  traffic: a loss to {bar.loss_to:.0%} or a surge to {bar.surge_to:g}x, from at least "
                       f"{bar.min_before:g} req/s")
        else:
            extra = f", and {bar.min_failures * 60:g} more failed requests a minute" if bar.min_failures else ""
            out.append(f"  {role.value}: up by at least {bar.min_delta:g} and to {bar.min_ratio:g}x{extra}")
    for (svc, sig), bar in sorted(impact.overrides.items()):
        out.append(f"  {sig} of {svc}: up by at least {bar.min_delta:g} and to {bar.min_ratio:g}x")
    roles = {sg.name: impact.role(sg.name).value for sg in signals}
    if roles:
        out.append("  roles: " + ", ".join(f"{n} {rl}" for n, rl in sorted(roles.items()))
                   + " (resource and other signals never page alone)")
    out.append(f"Services: {', '.join(s.name for s in cfg.services) or 'none (no topology: every service alone)'}")
    out.append(f"Notifiers: {', '.join(f'{n.name} ({n.type})' for n in cfg.notifiers)}")
    return out


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def check_config(args: argparse.Namespace) -> int:
    """Validate the config; list every secret that cannot be read here; ``--explain`` the queries and windows."""
    from ..config import ConfigError, load_config_unresolved, unresolved_secrets
    try:
        cfg = load_config_unresolved(args.config)
    except ConfigError as e:
        print(f"whatchanged: bad config: {e}", file=sys.stderr)
        return 2
    summary = ", ".join(_count(n, what) for n, what in ((len(cfg.all_signals()), "signal"),
                                                         (len(cfg.services), "service"), (len(cfg.probes), "probe"),
                                                         (len(cfg.notifiers), "notifier")))
    if args.explain:
        print("\n".join(explain(cfg)))
    missing = unresolved_secrets(cfg)
    if not missing:
        print(f"{args.config}: ok ({summary})")
        return 0
    envs = [ref.env for _, ref, _ in missing if ref.env]
    files = [str(ref.file) for _, ref, _ in missing if ref.file is not None]
    print(f"{args.config}: valid ({summary}), but `whatchanged run` would refuse it here: "
          f"{len(missing)} secret(s) cannot be read:", file=sys.stderr)
    for field, _, why in missing:
        print(f"  {field}: {why}", file=sys.stderr)
    if envs:
        print(f"Set: {' '.join(f'{e}=...' for e in envs)}", file=sys.stderr)
    if files:
        print(f"Create: {', '.join(files)}", file=sys.stderr)
    return 2


def _listen(value: str) -> str:
    from ..config import Config as _C
    try:
        _C._listen(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return value


def _service(name: str) -> Any:
    """A command of :mod:`daemon.runtime.daemon`, imported when it runs."""
    def run(args: argparse.Namespace) -> int:
        from ..runtime import daemon as service
        return int(getattr(service, name)(args))
    return run


def _demo_description() -> str:
    kinds = "; ".join(f"{words} ({kind})" for kind, words in DEMO_KINDS)
    return ("A simulated shop of seven services in real time, behind the same daemon as production. The last "
            "hour is backfilled so that the detectors are warm; then an incident is injected --first-after "
            "seconds after start and another every --every seconds, in this order: " + kinds + ". Each "
            "injection is logged with its truth (the cause and the affected services), so that you can check "
            "the answer on the incident page. The store is kept across restarts unless --fresh is given.")


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("run", help="run the live daemon from a YAML config",
                       description="Start the daemon: poll Prometheus, watch changes and dependency health, "
                                   "detect, rank and page. A bad config is refused at start.")
    p.add_argument("--config", required=True, metavar="FILE", help="YAML config (see README.md)")
    p.add_argument("--listen", type=_listen, default=None, metavar="HOST:PORT",
                   help="override the config's listen address")
    p.set_defaults(func=_service("_cmd_run"))

    c = sub.add_parser("check-config", help="validate a YAML config and exit",
                       description="Validate a config without starting anything; exit 2 naming the bad field, "
                                   "or every secret (environment variable or file) that cannot be read here.")
    c.add_argument("config", metavar="FILE")
    c.add_argument("--explain", action="store_true",
                   help="print every PromQL query and every window the daemon will use")
    c.set_defaults(func=check_config)

    d = sub.add_parser("demo", help="run the daemon on the built-in simulated shop (SQLite, no other server)",
                       description=_demo_description())
    d.add_argument("--listen", type=_listen, default="127.0.0.1:8080", metavar="HOST:PORT",
                   help="HTTP address (default 127.0.0.1:8080)")
    d.add_argument("--db", default="whatchanged-demo.db", metavar="PATH",
                   help="SQLite file (default %(default)s), kept across restarts")
    d.add_argument("--fresh", action="store_true", help="start from an empty store (deletes --db first)")
    d.add_argument("--seed", type=int, default=7, help="simulation seed (default 7)")
    d.add_argument("--step", type=float, default=10.0, help="seconds between samples (default 10)")
    d.add_argument("--first-after", type=float, default=90.0, metavar="SECONDS",
                   help="first injected incident this long after start (default 90)")
    d.add_argument("--every", type=float, default=360.0, metavar="SECONDS",
                   help="then an incident this often (default 360)")
    d.set_defaults(func=_service("_cmd_demo"))
