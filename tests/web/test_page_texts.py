"""What a responder's phone shows: the page's title and text lead with the likely cause and its confidence."""

from __future__ import annotations

import copy
from typing import Any

from correlators.view import CandidateView, IncidentView
from daemon.notify.pagerduty import pagerduty_event
from daemon.notify.render import dead_end_groups, format_value, render_text, render_title, shown_candidates
from daemon.notify.slack import slack_blocks
from daemon.notify.types import Page
from daemon.web.layout import order_series
from daemon.workspace.model import WorkspaceView

T0 = 1_790_000_000.0  # 14:13:20 UTC

DOC: dict[str, Any] = {
    "id": "inc-1", "state": "open", "onset": T0, "services": ["checkout", "frontend"],
    "anomalies": [{"service": "checkout", "signal": "error_ratio", "onset": T0, "before": 0.004, "after": 0.051,
                   "series": "checkout/error_ratio"}],
    "candidates": [
        {"rank": 1, "score": 0.78, "cause": {"type": "dependency", "target": "redis-cache"},
         "title": "redis-cache unhealthy", "hypothesis": "redis is down", "test": "query `up{job='redis'}`"},
        {"rank": 2, "score": 0.2, "cause": {"type": "none"}, "title": "none of these", "hypothesis": "h",
         "test": "t"},
        {"rank": 3, "score": 0.001, "cause": {"type": "change", "id": "c3"}, "title": "deploy cart",
         "hypothesis": "h", "test": "t"},
    ],
    "dead_ends": [{"cause": {"type": "change", "id": f"c{i}"}, "title": f"deploy {i}",
                   "reason": f"ranked below the top 5 (score 0.0{i})"} for i in range(4)],
    "recommendation": {"action": "failover", "command": "fail over redis-cache or degrade cart, catalog gracefully",
                       "why": "redis-cache is not ours to roll back"},
    "low_confidence": False,
}


def _page(doc: dict[str, Any]) -> Page:
    return Page("trigger", "inc-1", "inc-1", T0, render_title(doc), render_text(doc), doc, "http://w/incidents/inc-1",
                service="checkout")


def test_title_and_text_lead_with_the_likely_cause() -> None:
    assert render_title(DOC) == ("Likely redis-cache unhealthy (78%): checkout: error ratio 0.40% → 5.1% since "
                                 "14:13 UTC (frontend affected)")
    lines = render_text(DOC).splitlines()
    assert lines[0] == "Likely redis-cache unhealthy (78%)."
    # prose is said as prose, not as a command to paste; Markdown is plain text for receivers that show it raw
    assert lines[1] == "Recommended (failover): fail over redis-cache or degrade cart, catalog gracefully."
    assert "query up{job='redis'}" in render_text(DOC) and "`" not in render_text(DOC)
    # the near-zero candidate is not spelled out
    assert "deploy cart" not in render_text(DOC) and "(1 more candidate on the incident page)" in lines


def test_receivers_put_the_cause_first() -> None:
    page = _page(DOC)
    assert pagerduty_event(page, "k")["payload"]["summary"].startswith("Likely redis-cache unhealthy (78%): ")
    assert slack_blocks(page)[0]["text"]["text"].startswith("Likely redis-cache unhealthy (78%): ")
    assert page.to_json()["title"].startswith("Likely redis-cache unhealthy (78%)")  # the webhook body


def test_low_confidence_says_so_plainly() -> None:
    doc = copy.deepcopy(DOC)
    doc["low_confidence"] = True
    doc["candidates"][0]["score"] = 0.31
    assert render_title(doc).startswith("Cause unclear (best guess: redis-cache unhealthy, 31%): checkout:")
    doc["candidates"] = [{"rank": 1, "score": 0.9, "cause": {"type": "none"}, "title": "none of these",
                          "hypothesis": "h", "test": "t"}]
    assert render_title(doc).startswith("No recorded change explains it: checkout:")


def test_values_are_formatted_for_people() -> None:
    assert [format_value("error_ratio", v) for v in (0.004334, 0.04976)] == ["0.43%", "5.0%"]
    assert format_value("latency_p99_seconds", 0.1834) == "183 ms"


def test_page_layout_folds_and_groups() -> None:
    view = IncidentView.from_json(DOC)
    shown, folded = shown_candidates(view)
    assert [c.rank for c in shown] == [1, 2] and [c.rank for c in folded] == [3]
    groups = dead_end_groups(view.dead_ends)
    assert [(g.reason, g.titles) for g in groups] == [("ranked below the top 5",
                                                       ("deploy 0", "deploy 1", "deploy 2", "deploy 3"))]


def test_signals_are_ordered_by_relevance() -> None:
    view: dict[str, Any] = {"anomalies": [{"series": "checkout/error_ratio", "onset": T0 + 30},
                          {"series": "payments/error_ratio", "onset": T0}],
            "services": ["checkout", "payments"], "changes": [{"id": "c1", "service": "checkout"}],
            "series": [{"series": s, "service": s.split("/")[0], "signal": s.split("/")[1]}
                       for s in ("frontend/request_rate", "payments/error_ratio", "checkout/latency_p99_seconds",
                                 "checkout/error_ratio")]}
    ws = WorkspaceView.from_json(view)
    shown = [CandidateView.from_json({"cause": {"type": "change", "id": "c1"}})]
    order = [view["series"][i]["series"] for i in order_series(ws, shown)]
    # anomalous first, the likely cause's service first among them; then the rest, errors before latency
    assert order == ["checkout/error_ratio", "payments/error_ratio", "checkout/latency_p99_seconds",
                     "frontend/request_rate"]
