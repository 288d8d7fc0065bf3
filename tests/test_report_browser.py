"""report.html in a real headless Chromium, offline: no console errors, every image loads, the table shows.

Needs Debian's `chromium` package and the `playwright` pip package (its bundled
browsers are never downloaded: it drives /usr/bin/chromium). Without them the
test is skipped, except under CI (CI=true), where it fails.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from test_report import make_run  # tests/ is on sys.path (pytest's default import mode)

from tuneoff.report.build import build_report

CHROMIUM = os.environ.get("TUNEOFF_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Loaded, decodable, and whole: a cut-off PNG still reports its size, but its last rows stay transparent.
CHECK_IMAGES = """async imgs => Promise.all(imgs.map(async i => {
  let decoded = true;
  try { await i.decode(); } catch (e) { decoded = false; }
  const c = document.createElement('canvas');
  c.width = Math.max(1, i.naturalWidth); c.height = Math.max(1, i.naturalHeight);
  const g = c.getContext('2d');
  g.drawImage(i, 0, 0);
  const corner = g.getImageData(c.width - 1, c.height - 1, 1, 1).data;
  return {loaded: i.complete && i.naturalWidth > 0, decoded, whole: corner[3] === 255, alt: i.alt};
}))"""


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(why: str):
    if _in_ci():
        pytest.fail(f"browser test cannot run under CI: {why}")
    pytest.skip(why)


def test_report_renders_in_headless_chromium(tmp_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the 'playwright' pip package is not installed")
    if not Path(CHROMIUM).is_file():
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")

    folder = make_run(tmp_path / "run")
    report = build_report(folder)["html"]
    errors, requests = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS, timeout=60_000)
        try:
            context = browser.new_context(offline=True, viewport={"width": 1280, "height": 850})
            page = context.new_page()
            page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url[:80]}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.as_uri(), wait_until="load", timeout=30_000)

            images = page.eval_on_selector_all("img", CHECK_IMAGES)
            assert len(images) == 10
            assert all(i["loaded"] and i["decoded"] and i["whole"] for i in images), images
            assert all(len(i["alt"]) > 30 for i in images)

            board = page.inner_text("table")
            for text in ("rank interval", "player", "lora", "57.00%", "full", "65.00%", "may be best", "COLLAPSED"):
                assert text in board, text
            game = page.locator("table").nth(1).inner_text()  # the game's score, apart from the verdict
            for text in ("game rank", "points", "67.00", "+10"):
                assert text in game, text
            assert page.locator("tr[data-player='collapsed'] .badge.collapsed").first.is_visible()
            assert page.locator("tr[data-player='full'] .badge.collapsed").count() == 0
            assert "NonFiniteLoss" in page.inner_text("body") and "ghost" in page.inner_text("body")
            # Readable at 1280 pixels: neither the page nor any table scrolls sideways (no column is cut off).
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            cut = page.evaluate("[...document.querySelectorAll('.scroll')].filter(d => d.scrollWidth > d.clientWidth)"
                                ".map(d => d.querySelector('th').innerText + ': ' + d.scrollWidth + '>' + d.clientWidth)")
            assert cut == [], cut

            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            if os.environ.get("TUNEOFF_SCREENSHOT"):
                target = Path(os.environ["TUNEOFF_SCREENSHOT"])
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(shot, target)
        finally:
            browser.close()
    assert not errors, errors
    assert all(u.startswith(("file:", "data:")) for u in requests), [u[:80] for u in requests]
