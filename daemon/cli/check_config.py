"""``whatchanged check-config``: validate a YAML config, list unreadable secrets, ``--explain`` the
queries and windows the daemon will use."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import Config

__all__ = ["add_parser", "check_config", "explain", "human_duration"]


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
    from correlators.signals import default_bad_direction

    from ..core.policy import impact_of
    configured_roles = impact_of(cfg.detection, signals).roles
    for s in signals:
        bad = s.bad_direction or default_bad_direction(s.name, configured_roles)
        out.append(f"  {s.name}  [service label {s.service_label}; bad direction {bad}]")
        out += [f"    {line}" for line in " ".join(s.query.split()).splitlines()]
    if cfg.health_queries:
        out.append("Dependency health queries (1 = healthy):")
        out += [f"  {h.query}  [target label {h.target_label}]" for h in cfg.health_queries]
    for p in cfg.probes:
        out.append(f"Probe {p.target}: GET {p.url} every {d(p.interval)}, timeout {d(p.timeout)}, "
                   f"healthy on {p.expect_status}")
    det, dl = cfg.detection, cfg.delivery
    from ..core.policy import policy, step_of
    pol = policy(cfg, step_of(cfg))
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


def add_parser(sub: Any) -> None:
    c = sub.add_parser("check-config", help="validate a YAML config and exit",
                       description="Validate a config without starting anything; exit 2 naming the bad field, "
                                   "or every secret (environment variable or file) that cannot be read here.")
    c.add_argument("config", metavar="FILE")
    c.add_argument("--explain", action="store_true",
                   help="print every PromQL query and every window the daemon will use")
    c.set_defaults(func=check_config)
