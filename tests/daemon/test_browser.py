"""The pages in a real browser: headless Debian chromium driven by selenium, against a running daemon.

Screenshots go to ``$WHATCHANGED_SCREENSHOTS`` (default: the test's tmp dir).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from daemon.api.app import create_app
from daemon.api.auth import ApiTokens
from daemon.runtime.daemon import Daemon
from daemon.store import Store
from tests.daemon.servers import free_port

from ..conftest import require_or_skip
from .workspace_helpers import CONFIG, DEPLOY, feed_incident, make_daemon

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"



def _driver() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,1000",
                "--disable-dev-shm-usage"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=opts, service=Service(executable_path=CHROMEDRIVER))


def _full_screenshot(driver: Any, path: Path) -> None:
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(6000, max(1000, int(height) + 100)))
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 1000)


def _severe(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _browse(base: str, incident_id: str, shots: Path) -> dict[str, Any]:
    """Everything the browser does, in a worker thread (the daemon keeps serving on the event loop)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    out: dict[str, Any] = {}
    driver = _driver()
    try:
        wait = WebDriverWait(driver, 45)  # generous: CI machines can be loaded
        driver.get(f"{base}/incidents")
        rows = driver.find_elements(By.CSS_SELECTOR, "#incidents tbody tr")
        out["rows"] = len(rows)
        out["row_text"] = rows[0].text if rows else ""
        _full_screenshot(driver, shots / "incident-list.png")
        out["list_errors"] = _severe(driver)

        driver.find_element(By.CSS_SELECTOR, f"#incidents a[href='/incidents/{incident_id}']").click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "figure.plot[data-plotted='true']")))
        figs = driver.find_elements(By.CSS_SELECTOR, "figure.plot")
        out["plots"] = len(figs)
        out["plotted"] = sum(f.get_attribute("data-plotted") == "true" for f in figs)
        out["canvases"] = len(driver.find_elements(By.CSS_SELECTOR, "figure.plot canvas"))
        out["marks"] = [int(f.get_attribute("data-marks") or 0) for f in figs]
        out["title"] = driver.find_element(By.ID, "title").text
        out["candidates"] = [li.find_element(By.TAG_NAME, "h3").text
                             for li in driver.find_elements(By.CSS_SELECTOR, "li.candidate")]
        out["command"] = driver.find_element(By.ID, "command").text
        out["imgs"] = len(driver.find_elements(By.TAG_NAME, "img"))  # the injected <img onerror> must not exist
        out["timeline"] = driver.find_element(By.ID, "timeline").text
        _full_screenshot(driver, shots / "incident.png")

        driver.find_element(By.ID, "copy").click()
        wait.until(lambda d: d.find_element(By.ID, "copy").text != "Copy")
        out["copy"] = driver.find_element(By.ID, "copy").text

        # a write without the token is refused and the page says what to do
        first = driver.find_element(By.CSS_SELECTOR, "li.candidate")
        first.find_element(By.CSS_SELECTOR, "button.feedback.cause").click()
        wait.until(lambda d: d.find_element(By.ID, "status").text)
        out["refused"] = driver.find_element(By.ID, "status").text

        driver.find_element(By.ID, "write-token").send_keys("w-secret")
        driver.find_element(By.ID, "token-save").click()
        first = driver.find_element(By.CSS_SELECTOR, "li.candidate")
        first.find_element(By.CSS_SELECTOR, "button.feedback.cause").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "recorded as the cause"))
        out["feedback_status"] = driver.find_element(By.ID, "status").text
        wait.until(ec.staleness_of(first))  # the page reloads

        first = driver.find_element(By.CSS_SELECTOR, "li.candidate")
        first.find_element(By.CSS_SELECTOR, ".note-input").send_keys("pods of the new ReplicaSet only")
        first.find_element(By.CSS_SELECTOR, "button.hyp[data-state='investigating']").click()
        wait.until(ec.staleness_of(first))
        wait.until(ec.presence_of_element_located((By.ID, "investigation")))
        out["investigation"] = driver.find_element(By.ID, "investigation").text
        out["badge"] = driver.find_element(By.CSS_SELECTOR, "li.candidate .badge").text
        elapsed1 = driver.find_element(By.ID, "elapsed").text
        time.sleep(1.2)
        out["timer_ticks"] = driver.find_element(By.ID, "elapsed").text != elapsed1
        _full_screenshot(driver, shots / "incident-investigating.png")

        driver.get(f"{base}/api/v1/incidents/{incident_id}/postmortem.md")
        out["postmortem"] = driver.find_element(By.TAG_NAME, "body").text
        refused = "/feedback - Failed to load resource: the server responded with a status of 401"
        out["errors"] = [e for e in _severe(driver) if refused not in e]  # that refusal was on purpose
    finally:
        driver.quit()
    return out


async def test_incident_pages_in_headless_chromium(sqlite_store: Store, tmp_path: Path) -> None:
    require_or_skip(bool(shutil.which(CHROMIUM)) and os.access(CHROMEDRIVER, os.X_OK),
                    "chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    pytest.importorskip("selenium")
    shots = Path(os.environ.get("WHATCHANGED_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    daemon: Daemon = make_daemon(sqlite_store, tokens=ApiTokens.of(write=["w-secret"]))
    incident_id = await feed_incident(daemon)
    port = free_port()
    ready = asyncio.Event()
    task = asyncio.create_task(daemon.run(host="127.0.0.1", port=port, app=create_app(daemon), ready=ready))
    await asyncio.wait_for(ready.wait(), 10)
    try:
        out = await asyncio.to_thread(_browse, f"http://127.0.0.1:{port}", incident_id, shots)
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 30)

    assert out["rows"] == 1 and "checkout" in out["row_text"]
    assert out["list_errors"] == [] and out["errors"] == [], (out["list_errors"], out["errors"])  # no CSP violation
    assert out["plots"] >= 2 and out["plotted"] == out["plots"] and out["canvases"] >= out["plots"]
    assert all(m >= 4 for m in out["marks"]), out["marks"]  # onset, page and both changes on every time axis
    assert "checkout" in out["title"] and "error ratio" in out["title"]
    assert "checkout rollout revision 14 -> 15" in out["candidates"][0]
    assert out["command"].startswith("kubectl rollout undo deployment/checkout")
    assert out["imgs"] == 0
    assert DEPLOY.summary in out["timeline"] and CONFIG.summary in out["timeline"]  # shown as text, not markup
    assert out["copy"] in ("Copied", "Selected: press Ctrl+C")
    assert "write token" in out["refused"]
    assert out["feedback_status"].startswith("Thanks")
    assert out["badge"] == "investigating" and "Investigating" in out["investigation"]
    assert out["timer_ticks"]
    assert "## Follow-ups" in out["postmortem"] and "Improved observability" in out["postmortem"]

    feedback = await sqlite_store.feedback.find(incident_id)
    assert [f["cause"] for f in feedback] == [{"type": "change", "id": DEPLOY.id}]
    hyps = await daemon.workspace.db.hypotheses.find(incident_id)
    assert [(h["state"], h["note"]) for h in hyps] == [("investigating", "pods of the new ReplicaSet only")]
    updates = [n for n in await sqlite_store.notifications.find(incident_id=incident_id) if n.action == "note"]
    assert any("Hypothesis investigating" in n.payload["text"] for n in updates)
    for name in ("incident-list.png", "incident.png", "incident-investigating.png"):
        assert (shots / name).stat().st_size > 10_000
