"""report.html in a real headless Chromium, offline: no console errors, every image loads, the table shows,
the interactive view draws, filters, sorts and shows each job on hover, and nothing is fetched.

Needs Debian's `chromium` package and the `playwright` pip package (its bundled
browsers are never downloaded: it drives /usr/bin/chromium). Without them the
test is skipped, except under CI (CI=true), where it fails.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from test_report import make_run, make_seeded_run  # tests/ is on sys.path (pytest's default import mode)

from tuneoff.report.build import build_report

CHROMIUM = os.environ.get("TUNEOFF_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

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


def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the 'playwright' pip package is not installed")
    if not Path(CHROMIUM).is_file():
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    return sync_playwright


def test_report_renders_in_headless_chromium(tmp_path):
    sync_playwright = _playwright()

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
            assert len(images) == 11  # accuracy, pairwise, 3 x (curves, confusion), overlays, step losses, pareto
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
            cut = page.evaluate(
                "[...document.querySelectorAll('.scroll')].filter(d => d.scrollWidth > d.clientWidth)"
                ".map(d => d.querySelector('th').innerText + ': ' + d.scrollWidth + '>' "
                "+ d.clientWidth)"
            )
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


SHOWN = (
    "[...document.querySelectorAll('table[data-filter] tbody tr')].filter(r => !r.hidden).map(r => r.dataset.player)"
)


def test_interactive_view_filters_sorts_and_shows_each_job(tmp_path):
    sync_playwright = _playwright()
    report = build_report(make_seeded_run(tmp_path / "run", players=4, seeds=3))["html"]
    names = ["p01-full", "p02-lora", "p03-bitfit", "p04-head"]
    errors, left = [], []

    def only_files(route):  # nothing may leave the file: every other request is refused and recorded
        if route.request.url.startswith("file:"):
            return route.continue_()
        left.append(route.request.url)
        return route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS, timeout=60_000)
        try:
            context = browser.new_context(offline=True, viewport={"width": 1280, "height": 850})
            context.route("**/*", only_files)
            page = context.new_page()
            page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            page.set_default_timeout(120_000)  # a safety net for a loaded machine; every wait is for a known point
            page.goto(report.as_uri(), wait_until="load")
            page.wait_for_selector("body[data-views=ready]")  # view.js: every chart drawn

            def points(view: str, who: str = "") -> int:
                return page.locator(f"#view-{view} .mark-symbol path[aria-label*='player: {who}']").count()

            assert (points("jobs"), points("cost"), points("curves")) == (12, 24, 18)  # 4 x 3 jobs; 3 x 3 x 2
            assert page.evaluate(SHOWN) == names and page.inner_text(".filters").endswith("4 of 4 players shown")

            # Hover: the job's player, seed, accuracy, time and trainable parameters.
            page.hover("#view-jobs path[aria-label*='player: p02-lora'][aria-label*='job: seed-2']")
            tip = page.wait_for_selector("#vg-tooltip-element.visible").inner_text()
            for text in ("p02-lora", "lora", "seed-2", "70.00%", "22.0", "5,000"):
                assert text in tip, (text, tip)
            if os.environ.get("TUNEOFF_VIEW_SCREENSHOT"):  # docs/report-interactive.png
                target = Path(os.environ["TUNEOFF_VIEW_SCREENSHOT"])
                top, bottom = page.evaluate(
                    "[document.getElementById('explore-the-jobs'), document.getElementById("
                    "'view-cost')].map(e => e.getBoundingClientRect().top + window.scrollY"
                    " + (e.id === 'view-cost' ? e.offsetHeight : 0))"
                )
                page.screenshot(
                    path=str(target),
                    full_page=True,
                    clip={"x": 0, "y": top - 10, "width": 1280, "height": bottom - top + 20},
                )

            # The filter: the table's rows and both linked charts' points follow it.
            page.select_option(".filters select[name=strategy]", "lora")
            # data points only (role-mark): the cost chart's player legend draws symbols too
            page.wait_for_function("document.querySelectorAll('#view-jobs .mark-symbol.role-mark path').length === 3")
            assert page.evaluate(SHOWN) == ["p02-lora"] and "1 of 4 players shown" in page.inner_text(".filters")
            assert (points("jobs", "p02-lora"), points("cost"), points("cost", "p02-lora")) == (3, 6, 6)
            page.select_option(".filters select[name=strategy]", "")
            page.select_option(".filters select[name=player]", "p04-head")
            page.wait_for_function("document.querySelectorAll('#view-cost .mark-symbol.role-mark path').length === 6")
            assert page.evaluate(SHOWN) == ["p04-head"] and points("jobs", "p04-head") == 3
            page.select_option(".filters select[name=player]", "")
            page.wait_for_function("document.querySelectorAll('#view-jobs .mark-symbol.role-mark path').length === 12")
            assert page.evaluate(SHOWN) == names

            # Sorting: by player name, then the other way; a second table is not sortable.
            header = page.locator("table[data-filter] th", has_text="strategy")
            header.click()
            assert page.evaluate(SHOWN) == ["p03-bitfit", "p01-full", "p04-head", "p02-lora"]
            header.click()
            assert page.evaluate(SHOWN) == ["p02-lora", "p04-head", "p01-full", "p03-bitfit"]
            assert header.get_attribute("aria-sort") == "descending"
            page.locator("table[data-filter] th", has_text="trainable").click()  # by number, not as text
            assert page.evaluate(SHOWN) == ["p03-bitfit", "p04-head", "p02-lora", "p01-full"]
            assert page.locator("table:not([data-filter]) th[tabindex]").count() == 0

            # The loss curves: one player at a time, picked from the dropdown.
            assert points("curves", "p01-full") == 18 and points("curves", "p03-bitfit") == 0
            page.select_option("#view-curves select", "p03-bitfit")
            page.wait_for_selector("#view-curves path[aria-label*='player: p03-bitfit']")
            assert points("curves", "p03-bitfit") == 18 and points("curves", "p01-full") == 0
        finally:
            browser.close()
    assert not errors, errors
    assert left == [], left
