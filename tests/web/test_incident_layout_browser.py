"""The incident page as a responder reads it, in Debian's headless Chromium (selenium).

Checks the order of the sections, the zoomed time range and the control that widens it, units on
the y axes and 24-hour UTC on the x axes, marker labels that never overlap (bounding boxes), no
horizontal overflow at 390 px, Markdown rendered (no literal backticks), and writes screenshots at
1400 and 390 px under ``tests/output/`` (or ``$WHATCHANGED_SCREENSHOTS``) for review.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from correlators.types import Change, ChangeKind
from daemon.api.app import create_app
from daemon.runtime.daemon import Daemon
from daemon.store import Store
from tests.daemon.servers import free_port
from tests.daemon.workspace_helpers import START, STEP, feed_incident, make_daemon

from ..conftest import require_or_skip

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
OUTPUT = Path(__file__).resolve().parents[1] / "output"

# changes close together around the onset (step 80): their labels would collide if simply drawn
CROWD = [
    Change("chg-crowd-1", START + 78 * STEP + 20, ChangeKind.DEPLOY, "frontend", "shop",
           "frontend rollout revision 35 -> 36", "ci", {"from_revision": "35", "to_revision": "36"}),
    Change("chg-crowd-2", START + 79 * STEP, ChangeKind.SCALE, "checkout", "shop",
           "checkout scaled 4 -> 6 replicas", "hpa", {}),
    Change("chg-crowd-3", START + 79 * STEP + 10, ChangeKind.FEATURE_FLAG, "frontend", "shop",
           "feature flag frontend.new-header enabled at 10%", "ann", {"flag": "frontend.new-header"}),
]

# the sections in the order a responder needs them
ORDER = ["title", "recommendation-box", "candidates-box", "signals"]

JS_BOXES = """
const out = {};
document.querySelectorAll('figure.plot').forEach((fig, i) => {
  out[i] = Array.from(fig.querySelectorAll('.mark-label')).filter(e => e.style.visibility !== 'hidden')
    .map(e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom, e.textContent]; });
});
return out;
"""


def _driver(width: int) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", f"--window-size={width},1000",
                "--disable-dev-shm-usage", "--hide-scrollbars"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=opts, service=Service(executable_path=CHROMEDRIVER))


def _overlaps(boxes: list[list[Any]]) -> list[tuple[str, str]]:
    bad = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if a[0] < b[2] - 0.5 and b[0] < a[2] - 0.5 and a[1] < b[3] - 0.5 and b[1] < a[3] - 0.5:
                bad.append((str(a[4]), str(b[4])))
    return bad


def _viewport(driver: Any, width: int, height: int) -> None:
    """The page's viewport: headless Chromium's window is at least 500 px wide, so a phone is emulated."""
    if width >= 500:
        driver.set_window_size(width, height)
    else:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True})


def _screenshot(driver: Any, width: int, path: Path) -> None:
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    _viewport(driver, width, min(8000, height + 40))
    driver.save_screenshot(str(path))
    _viewport(driver, width, 1000)


def _look(base: str, incident_id: str, width: int, shots: Path) -> dict[str, Any]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    out: dict[str, Any] = {}
    driver = _driver(max(width, 500))
    try:
        _viewport(driver, width, 1000)
        driver.get(f"{base}/incidents/{incident_id}")
        WebDriverWait(driver, 45).until(ec.presence_of_element_located(
            (By.CSS_SELECTOR, "figure.plot[data-plotted='true']")))
        out["inner_width"] = driver.execute_script("return window.innerWidth")
        out["scroll_width"] = driver.execute_script("return document.documentElement.scrollWidth")
        out["tops"] = {i: driver.find_element(By.ID, i).rect["y"] for i in ORDER}
        out["title"] = driver.find_element(By.ID, "title").text
        out["lay"] = driver.execute_script("return JSON.parse(document.getElementById('layout-data').textContent)")
        out["window"] = driver.execute_script(
            "return JSON.parse(document.getElementById('incident-data').textContent).window")
        figs = driver.find_elements(By.CSS_SELECTOR, "figure.plot")
        out["figs"] = [{k: f.get_attribute(f"data-{k}") for k in ("unit", "min", "max", "xticks", "yticks", "labels")}
                       for f in figs]
        out["boxes"] = driver.execute_script(JS_BOXES)
        out["cards"] = len(driver.find_elements(By.CSS_SELECTOR, "#candidates > li.candidate"))
        out["candidates_text"] = driver.find_element(By.ID, "candidates").text
        out["codes"] = len(driver.find_elements(By.CSS_SELECTOR, "#candidates code"))
        out["command"] = [e.text for e in driver.find_elements(By.ID, "command")]
        out["legend"] = driver.find_element(By.ID, "marker-legend").text
        _screenshot(driver, width, shots / f"incident-{width}.png")
        if width > 600:
            driver.find_element(By.ID, "range-wide").click()
            WebDriverWait(driver, 10).until(lambda d: d.find_element(By.CSS_SELECTOR, "figure.plot")
                                            .get_attribute("data-min") != out["figs"][0]["min"])
            out["wide_min"] = float(driver.find_element(By.CSS_SELECTOR, "figure.plot").get_attribute("data-min"))
            out["wide_boxes"] = driver.execute_script(JS_BOXES)
            driver.find_element(By.ID, "range-zoom").click()
            WebDriverWait(driver, 10).until(lambda d: float(d.find_element(By.CSS_SELECTOR, "figure.plot")
                                                           .get_attribute("data-min")) > out["wide_min"])
        out["errors"] = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        driver.quit()
    return out


async def test_incident_page_reads_top_down_zoomed_with_units_and_fits_a_phone(
        sqlite_store: Store, tmp_path: Path) -> None:
    require_or_skip(bool(shutil.which(CHROMIUM)) and os.access(CHROMEDRIVER, os.X_OK),
                    "chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    pytest.importorskip("selenium")
    shots = Path(os.environ.get("WHATCHANGED_SCREENSHOTS") or OUTPUT)
    shots.mkdir(parents=True, exist_ok=True)
    daemon: Daemon = make_daemon(sqlite_store)
    incident_id = await feed_incident(daemon, extra=CROWD)
    port = free_port()
    ready = asyncio.Event()
    task = asyncio.create_task(daemon.run(host="127.0.0.1", port=port, app=create_app(daemon), ready=ready))
    await asyncio.wait_for(ready.wait(), 10)
    try:
        wide = await asyncio.to_thread(_look, f"http://127.0.0.1:{port}", incident_id, 1400, shots)
        phone = await asyncio.to_thread(_look, f"http://127.0.0.1:{port}", incident_id, 390, shots)
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 30)

    for name, out in (("1400", wide), ("390", phone)):
        assert out["errors"] == [], (name, out["errors"])  # no script error, no CSP violation
        # title, recommendation, candidates, then the plots
        tops = [out["tops"][i] for i in ORDER]
        assert tops == sorted(tops), (name, out["tops"])
        assert "likely checkout rollout revision 14 -> 15" in out["title"], out["title"]
        # every plot on the zoomed range: from before the earliest shown candidate to now, not the whole window
        zoom, window = out["lay"]["zoom"], out["window"]
        assert window["start"] < zoom["start"] < START + 60 * STEP <= START + 80 * STEP < zoom["end"]
        assert zoom["end"] - zoom["start"] < 0.5 * (window["end"] - window["start"])
        for fig in out["figs"]:
            assert abs(float(fig["min"]) - zoom["start"]) < 1 and abs(float(fig["max"]) - zoom["end"]) < 1, fig
            # 24-hour UTC times on the x axis (the incident is at 14:53 UTC), the unit on every y tick
            xticks = fig["xticks"].split("|")
            assert all(re.fullmatch(r"[0-2]\d:[0-5]\d", t) for t in xticks) and any(t >= "13:00" for t in xticks)
            assert fig["unit"] == "%" and all(t.endswith("%") for t in fig["yticks"].split("|")), fig
        # marker labels never overlap, and some are there to check
        for i, boxes in out["boxes"].items():
            assert not _overlaps(boxes), (name, i, _overlaps(boxes))
        assert max(len(b) for b in out["boxes"].values()) >= 3, out["boxes"]
        assert "onset" in out["legend"] and "deploy checkout" in out["legend"]
        # Markdown in the tests is rendered: code elements, no literal backticks
        assert out["codes"] > 0 and "`" not in out["candidates_text"]
        assert out["command"] and out["command"][0].startswith("kubectl rollout undo deployment/checkout")
        assert (shots / f"incident-{name}.png").stat().st_size > 10_000
    assert not any(_overlaps(b) for b in wide["wide_boxes"].values())
    assert abs(wide["wide_min"] - wide["window"]["start"]) < 1  # the control widens to the whole window
    assert phone["inner_width"] <= 390 and phone["scroll_width"] <= phone["inner_width"], phone  # no sideways scroll
    assert wide["tops"]["candidates-box"] < 1000  # the candidates are on the first screen, not 5,000 px down
