"""Terminal views of a running daemon: ``whatchanged incidents`` (a table) and ``whatchanged incident ID``.

They talk to the daemon over HTTP: ``--url`` or the ``WHATCHANGED_URL`` environment variable (default
http://127.0.0.1:8080), ``--token`` or ``WHATCHANGED_TOKEN``; both variables are read when the command runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from correlators.display import duration, probability, utc
from correlators.view import IncidentView

from ..workspace.model import WorkspaceView

__all__ = ["ViewError", "add_parser", "fetch", "format_incident", "format_table"]

DEFAULT_URL = "http://127.0.0.1:8080"


class ViewError(Exception):
    """Something the user can fix: the message says what; ``status`` is the HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def fetch(url: str, path: str, token: str | None, *, timeout: float = 10.0) -> Any:
    """GET ``path`` from the daemon at ``url`` and decode its JSON."""
    req = urllib.request.Request(url.rstrip("/") + path, headers={"Accept": "application/json"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        try:
            detail = json.loads(e.read().decode("utf-8")).get("message", "")
        except (ValueError, UnicodeDecodeError, AttributeError):
            detail = ""
        if e.code in (401, 403):
            raise ViewError(f"the daemon at {url} refused the request ({e.code}: {detail or e.reason}); "
                            "pass a token with --token or WHATCHANGED_TOKEN") from None
        if e.code == 404:
            raise ViewError(detail or "not found", 404) from None
        raise ViewError(f"the daemon at {url} answered {e.code}: {detail or e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise ViewError(f"cannot reach the daemon at {url} ({reason}); is it running? "
                        "(`whatchanged run` or `make run`; another address with --url or WHATCHANGED_URL)") from None
    except ValueError:
        raise ViewError(f"{url} did not answer with JSON: is it a whatchanged daemon?") from None


def _utc(ts: float | None) -> str:
    return utc(ts, "%Y-%m-%d %H:%M", missing="-", suffix="")


def _cut(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(incidents: Sequence[Mapping[str, Any]]) -> str:
    """A fixed-width table, open incidents first (the daemon's order).

    >>> print(format_table([{"id": "inc-1", "state": "open", "onset": 0, "services": ["a", "b"],
    ...                      "candidates": [{"score": 0.78, "title": "deploy a"}]}]))
    ID     STATE  ONSET (UTC)       SERVICES  TOP CANDIDATE
    inc-1  open   1970-01-01 00:00  a, b      (78%) deploy a
    """
    if not incidents:
        return "no incidents"
    rows = [("ID", "STATE", "ONSET (UTC)", "SERVICES", "TOP CANDIDATE")]
    for doc in incidents:
        inc = IncidentView.from_json(doc)
        top = f"({probability(inc.top.score)}) {inc.top.name}" if inc.top else "-"
        rows.append((inc.id, inc.state, _utc(inc.onset), _cut(", ".join(inc.services), 30), _cut(top, 60)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def format_incident(doc: WorkspaceView | Mapping[str, Any]) -> str:
    """One incident as a responder reads it in a terminal: symptom, likely cause, what to do, candidates."""
    from ..notify.render import dead_end_groups, is_shell_command, likely_cause, plain, render_symptom, shown_candidates
    ws = WorkspaceView.coerce(doc)
    view = ws.incident
    cause = likely_cause(view)
    lines = [render_symptom(view)] + ([f"{cause[:1].upper()}{cause[1:]}"] if cause else [])
    lines += [(f"{view.id}  {view.state}  onset {_utc(view.onset)} UTC  "
               f"paged {_utc(view.paged_at)}  resolved {_utc(view.resolved_at)}"), ""]
    if ws.lineage:  # follows, re-opened, merged
        lines[-1:] = [f"{ws.lineage}.", ""]
    inv = ws.investigation
    if inv:
        lines.append(f"Investigating {inv.title or inv.cause_key} for {duration(inv.elapsed)}")
        if inv.suggest_next:
            lines.append(f"  over 10 min: try next {inv.suggest_next.title}")
        lines.append("")
    rec = view.recommendation
    if rec:
        cmd = rec.command
        lines.append(f"Recommended ({rec.action}): " + (plain(cmd) + ". " if cmd and not is_shell_command(cmd)
                                                         else "") + plain(rec.why))
        if cmd and is_shell_command(cmd):
            lines.append(f"  $ {cmd}")
        lines.append("")
    lines.append("Candidates:")
    shown, folded = shown_candidates(view)
    for n, c in enumerate(shown, 1):
        state = f" [{c.state}]" if c.state else ""
        lines.append(f"{n}. ({probability(c.score)}) {c.name}{state}")
        lines.append(f"   Hypothesis: {plain(c.hypothesis)}")
        lines.append(f"   Test: {plain(c.test)}")
        lines += [f"   Test run: {plain(t.line)}" for t in view.tests_of(c.cause)]
        for e in c.evidence:
            lines.append(f"   - {e}")
    if folded:
        lines.append(f"   also considered, each under 1%: {', '.join(c.name for c in folded)}")
    if view.dead_ends:
        lines += ["", "Ruled out:"]
        for g in dead_end_groups(view.dead_ends):
            lines.append(f"- {g.titles[0]}: {g.reason}" if len(g.titles) == 1
                         else f"- {g.reason} ({len(g.titles)}): {', '.join(g.titles)}")
    if ws.timeline:
        lines += ["", "Timeline (UTC):"]
        lines += [f"  {utc(e.ts, '%H:%M:%S', suffix='')}  {e.kind:<15} {_cut(e.text, 90)}" for e in ws.timeline]
    return "\n".join(lines)


def _token(args: argparse.Namespace) -> str | None:
    return args.token or os.environ.get("WHATCHANGED_TOKEN") or None


def _url(args: argparse.Namespace) -> str:
    return str(args.url or os.environ.get("WHATCHANGED_URL") or DEFAULT_URL)


def _cmd_incidents(args: argparse.Namespace) -> int:
    query = {k: v for k, v in (("state", args.state), ("service", args.service), ("limit", str(args.limit)))
             if v}
    try:
        doc = fetch(_url(args), "/api/v1/incidents?" + urllib.parse.urlencode(query), _token(args))
    except ViewError as e:
        print(f"whatchanged: {e}", file=sys.stderr)
        return 1
    print(json.dumps(doc, indent=2) if args.json else format_table(doc.get("incidents", [])))
    return 0


def _cmd_incident(args: argparse.Namespace) -> int:
    try:
        view = fetch(_url(args), "/api/v1/incidents/" + urllib.parse.quote(args.id, safe=""), _token(args))
    except ViewError as e:
        print(f"whatchanged: no incident {args.id}" if e.status == 404 else f"whatchanged: {e}", file=sys.stderr)
        return 1
    print(json.dumps(view, indent=2) if args.json else format_incident(view))
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default=None,
                   help=f"the daemon's address (default: $WHATCHANGED_URL, else {DEFAULT_URL})")
    p.add_argument("--token", default=None, help="API token (default: $WHATCHANGED_TOKEN)")
    p.add_argument("--json", action="store_true", help="print the JSON the API returned")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("incidents", help="list incidents of a running daemon (open first)",
                       description="A table of incidents from a running daemon's API, open first.")
    _common(p)
    p.add_argument("--state", choices=["open", "resolved"], default=None)
    p.add_argument("--service", default=None, help="only incidents affecting this service")
    p.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    p.set_defaults(func=_cmd_incidents)
    q = sub.add_parser("incident", help="show one incident of a running daemon",
                       description="One incident: candidates, hypotheses, dead ends, recommendation, timeline.")
    q.add_argument("id", metavar="ID")
    _common(q)
    q.set_defaults(func=_cmd_incident)
