"""The incident page, its timeline and the postmortem show each confirm test, its query and its numbers."""

from __future__ import annotations

from typing import Any

import pytest

from daemon.cli.incidents import format_incident
from daemon.core.replay import replay
from daemon.demo.scenario import ScenarioSpec, write_scenario
from daemon.notify.render import render_text, render_title
from daemon.sources.scenario import load_scenario
from daemon.web.layout import layout
from daemon.web.pages import _environment
from daemon.workspace.model import WorkspaceView
from daemon.workspace.postmortem import render_postmortem
from daemon.workspace.view import build_view


@pytest.fixture(scope="module")
def view(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("display") / "sc"
    write_scenario(path, 11, ["bad_deploy"], hours=1.0, step=30.0, spec=ScenarioSpec(versions=True, decoys=4))
    doc = next(i for i in replay(load_scenario(path))["incidents"] if i["paged_at"] is not None)
    assert any(t["verdict"] == "confirmed" for t in doc["tests"])
    return build_view(doc, now=float(doc["opened_at"]) + 600, series=[], changes=[], health=[], notifications=[],
                      feedback=[], hypotheses=[])


def test_postmortem_lists_each_test_with_query_and_numbers(view: dict[str, Any]) -> None:
    md = render_postmortem(view)
    assert "### Confirm tests run" in md
    section = md.split("### Confirm tests run", 1)[1].split("\n## ", 1)[0]
    confirmed = [line for line in section.splitlines() if "**confirmed**" in line]
    assert confirmed and "rollout revision" in confirmed[0] and "new pods (revision" in confirmed[0]
    assert section.count("- Query: `metrics.csv: ") == len(view["tests"])
    assert "error_ratio: new " in section and "two-proportion z" in section and "p(worse)" in section
    assert "**refuted**" in section


def test_incident_page_has_a_table_of_tests_and_timeline_rows(view: dict[str, Any]) -> None:
    ws = WorkspaceView.from_json(view)
    html = _environment().get_template("incident.html").render(
        inc=view, title=render_title(ws.incident), lay=layout(ws), next_candidate=None, postmortem_url="/pm.md",
        auth_open=True, writes_need_token=False)
    table = html.split('id="confirm-tests"', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr class=") == len(view["tests"])
    assert 'class="badge confirmed"' in table and "metrics.csv: " in table and "n_new" not in table
    assert "new pods (revision" in table and "p(worse)" in table
    rows = [e for e in view["timeline"] if e["kind"] == "test"]
    assert len(rows) == len(view["tests"]) and any("confirmed: new pods" in e["text"] for e in rows)


def test_the_page_text_carries_the_test_run(view: dict[str, Any]) -> None:
    text = render_text(view)
    assert "   Test run: confirmed: new pods (revision" in text


def test_the_terminal_view_carries_the_test_run(view: dict[str, Any]) -> None:
    text = format_incident(view)
    assert "   Test run: confirmed: new pods (revision" in text
