"""The HTML report opened from disk in headless Chromium: renders, no console errors, no network.

Every request the page makes is routed through the test: anything but `data:`/`file:` fails it.
A screenshot is kept under test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from human_review.reports import build
from human_review_dev.bench import report as bench

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists(),
                       reason=f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)"),
]


def _photo(uri: str) -> bytes:
    """A real photo (scikit-image's astronaut) for every gallery image."""
    from PIL import Image
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buf, format="JPEG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def report_file(tmp_path_factory) -> Path:
    rows = bench.synthetic_rows(300, seed=3)
    table = build.frame(rows)
    trend = [{"run_key": f"2026-11-{d:02d}T020000Z", "images": 300, "flagged_share": 0.5 + d / 100,
              "reviewed": 150, "changed_share": 0.3, "mean_agreement": 0.9, "dry_run": False} for d in range(1, 14)]
    summary = build.summarise(rows, pipeline="object-detection", run_key="2026-11-14T020000Z", dry_run=False,
                              sent_to_review=int(table["loop_name"].notna().sum()), price_usd=0.036, trend=trend)
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_bytes(build.html_bytes(summary, table, _photo, gallery_limit=12))
    return path


def test_report_renders_offline_without_errors(report_file):
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    blocked: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})

            def route(r):
                if r.request.url.startswith(("data:", "file:")):
                    r.continue_()
                else:
                    blocked.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}") if not r.url.startswith("data:") else None)
            page.goto(report_file.as_uri(), wait_until="load")

            assert "object-detection" in page.title()
            assert page.locator("#calibration svg").count() == 1
            assert page.locator("#trend svg").count() == 1
            assert page.locator("#labels svg").count() == 1
            cards = page.locator("#gallery .card")
            assert cards.count() == 12
            # every thumbnail decoded (a broken data URI has naturalWidth 0), model and people side by side
            widths = page.eval_on_selector_all("#gallery img", "imgs => imgs.map(i => i.naturalWidth)")
            assert len(widths) == 24 and min(widths) > 0
            assert "Model" in cards.first.inner_text() and "People" in cards.first.inner_text()
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report-object-detection.png"), full_page=True)
        finally:
            browser.close()
    assert blocked == [], blocked
    assert errors == [], errors
