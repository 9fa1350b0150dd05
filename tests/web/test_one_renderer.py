"""One incident through every surface (the CLI, the notifier text, the postmortem, the web page): the same
numbers, said the same way."""

from __future__ import annotations

import copy
import html
import json
import re
from typing import Any

from daemon.cli.incidents import format_incident
from daemon.notify.render import incident_details, render_text, render_title
from daemon.web.layout import layout
from daemon.web.pages import _environment
from daemon.workspace.model import WorkspaceView
from daemon.workspace.postmortem import render_postmortem
from daemon.workspace.view import build_view

from ..correlators.test_incident_view import STORED

ONSET = 1_790_000_000.0  # 14:13:20 UTC


def _doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(STORED)
    doc["state"], doc["resolved_at"] = "open", None
    # a resource signal whose name ends in "seconds": a number, not a latency (chosen by role, not by name)
    doc["anomalies"].append({"service": "payments", "signal": "cpu_throttled_seconds", "onset": ONSET + 90,
                             "detected_at": ONSET + 150, "direction": "up", "before": 0.5, "after": 2.5,
                             "confidence": 0.8, "recovered_at": None, "series": "payments/cpu_throttled_seconds"})
    return doc


def _view(doc: dict[str, Any]) -> dict[str, Any]:
    series = [{"series": a["series"], "service": a["service"], "signal": a["signal"],
               "points": [[ONSET - 60, a["before"]], [ONSET + 120, a["after"]]]} for a in doc["anomalies"]]
    changes = [{"id": "chg-15", "ts": ONSET - 120, "kind": "deploy", "service": "checkout", "namespace": "shop",
                "summary": "checkout rollout revision 14 -> 15", "actor": "ci", "attributes": {}}]
    return build_view(doc, now=ONSET + 1200, series=series, changes=changes, health=[], notifications=[],
                      feedback=[], hypotheses=[])


def _page_text(view: dict[str, Any]) -> str:
    ws = WorkspaceView.from_json(view)
    lay = layout(ws)
    page = _environment().get_template("incident.html").render(
        inc=view, title=render_title(ws.incident), lay=lay, next_candidate=lay["next_candidate"],
        postmortem_url="/p.md", auth_open=True, writes_need_token=False)
    page = re.sub(r"<script.*?</script>", " ", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def _surfaces() -> dict[str, str]:
    doc = _doc()
    view = _view(doc)
    notifier = "\n".join([render_title(doc), render_text(doc), *incident_details(doc)["anomalies"]])
    return {"cli": format_incident(json.loads(json.dumps(view))), "notifier": notifier,
            "postmortem": render_postmortem(view), "web": _page_text(view)}


def test_every_surface_states_the_same_numbers_the_same_way() -> None:
    surfaces = _surfaces()
    for name, text in surfaces.items():
        # the first symptom's error ratio, before and after
        assert "error ratio 0.40% → 5.1%" in text, (name, text)
        # the top cause and its probability
        assert re.search(r"\(78%\)\s*checkout rollout revision 14 -> 15|78%\s+checkout rollout revision 14 -> 15",
                         text), (name, text)
        # how long after the incident it follows this one began
        assert "Follows inc-0000000001 by 4 min" in text, (name, text)
    for name in ("notifier", "postmortem", "web"):  # every anomaly's level (the CLI leads with the first)
        text = surfaces[name]
        assert "frontend latency p99 seconds" in text and "120 ms → 950 ms" in text, (name, text)
        assert "cpu throttled seconds" in text and "0.5 → 2.5" in text and "500 ms" not in text, (name, text)
    # the time of the page, and how long after the onset it came
    for name in ("cli", "postmortem", "web"):
        assert "14:16" in surfaces[name], name
    assert "Time to page: 3 min after onset" in surfaces["postmortem"]
    # how long it has lasted, from the same onset
    assert "Duration: 20 min so far" in surfaces["postmortem"] and "open for 20 min" in surfaces["web"]


def test_a_changed_number_changes_on_every_surface() -> None:
    """The check above reads what the renderers print (a renderer that ignored the incident would fail it)."""
    doc = _doc()
    doc["anomalies"][0]["after"] = 0.123
    doc["candidates"][0]["score"] = 0.61
    view = _view(copy.deepcopy(doc))
    texts = [format_incident(view), render_title(doc) + render_text(doc), render_postmortem(view), _page_text(view)]
    for text in texts:
        assert "0.40% → 12.3%" in text and "61%" in text and "78%" not in text, text
