"""A person answers in Chromium instead of simulated reviewers, and the morning report tells the truth.

The real stages run against the local stack (moto's S3 server, the local review service, the real
local models on real photos); Playwright drives Debian's Chromium through the worker portal's
workbench; the report is then opened in the same browser. Screenshots go to
test-artifacts/issue13/ (git-ignored).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from human_review.config import find_pipeline
from human_review.stages.run import RunContext

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "issue13"
BUCKET = "hr-person"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("person_answers"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="browser tests need Debian's Chromium at /usr/bin/chromium"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from human_review_dev.stack import local_stack

    saved = dict(os.environ)
    os.environ["HUMAN_REVIEW_BUCKET"] = BUCKET
    with local_stack(tmp_path_factory.mktemp("services"), bucket=BUCKET) as s:
        os.environ.update(s.env)
        yield s
    os.environ.clear()
    os.environ.update(saved)


def seed(stack, prefix: str, names: list[str]) -> list[str]:
    from human_review_dev.samples import broken_files, sample_photos

    files = {**sample_photos(), **{n: d for n, (d, _) in broken_files().items()}}
    for name in names:
        stack.s3_client().put_object(Bucket=BUCKET, Key=f"{prefix}/{name}", Body=files[name])
    return [f"{prefix}/{n}" for n in names]


def run_context(pipeline: str, run_key: str, keys: list[str]) -> RunContext:
    end = dt.datetime(2026, 11, 22, 2, 0, tzinfo=dt.timezone.utc)
    return RunContext(config=find_pipeline(pipeline), run_key=run_key, data_interval_start=end - dt.timedelta(days=1),
                      data_interval_end=end, params={"keys": keys}, run_id=f"manual__{run_key}")


def off_loop(fn, *args):
    """Run a stage in a plain thread: Playwright's sync API keeps an event loop running in this one,
    and the stages' object storage (s3fs) runs its own."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


def run_until_review(run: RunContext):
    from human_review.stages.discover import discover
    from human_review.stages.infer import infer
    from human_review.stages.route import route

    return off_loop(lambda: [route(run, infer(run, b)) for b in discover(run)])


def sign_in(page, stack, worker: str, flow: str) -> None:
    page.goto(f"{stack.review_url}/worker/")
    page.fill("input[name=worker_id]", worker)
    page.click("button[type=submit]")
    page.click(f"form[action='queues/{flow}/next'] button")
    page.wait_for_url("**/worker/tasks/**")
    page.wait_for_function("() => Array.from(document.querySelectorAll('#hr-task img')).every(i => i.complete && i.naturalWidth > 0)")


def test_person_answers_moderation_and_the_report_does_not_call_the_model_wrong(stack, browser, caplog):
    from human_review import storage
    from human_review.stages.report import report

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    keys = seed(stack, "incoming/person-mod", ["coffee.png", "astronaut.png", "not-an-image.jpg", "notes.txt"])
    run = run_context("content-moderation", "person-moderation", keys)
    with caplog.at_level("WARNING", logger="human_review.stages.discover"):
        routed = run_until_review(run)
    # the discover log names the file it rejects, and why
    assert f"rejected s3://{BUCKET}/incoming/person-mod/notes.txt: unsupported extension '.txt'" in caplog.text
    loops = sum(r.loops for r in routed)
    assert loops == 2  # coffee (Suggestive 1.3%) and astronaut (3.2%): both flagged by Suggestive < 98

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, stack, "person-1", "content-moderation")
    for n in range(loops):
        bar = page.locator("#hr-bar")
        name = bar.locator(".hr-file").inner_text()
        assert name in ("coffee.png", "astronaut.png")
        assert "Time left" in bar.locator(".hr-countdown").inner_text()
        assert bar.locator(".hr-bar-submit").is_visible()  # Submit without scrolling
        box = page.locator("label:has(input[data-name='Suggestive'])")
        assert "unlikely" in box.inner_text()  # the score, shown as a score
        assert not page.locator("input[data-name='Suggestive']").is_checked()  # not a claim: not pre-checked
        text = page.locator("body").inner_text().lower()
        assert "audit" not in text and "sampling" not in text and "flagged by" not in text
        if n == 0:
            page.screenshot(path=str(ARTIFACTS / "task-moderation.png"), full_page=False)
            page.keyboard.press("2")  # the shortcut ticks the 2nd category (Suggestive) ...
            assert page.locator("input[data-name='Suggestive']").is_checked()
            page.keyboard.press("2")  # ... and unticks it: the person sees nothing suggestive
            assert not page.locator("input[data-name='Suggestive']").is_checked()
        # the moderation element wants a choice, as A2I's does: categories, or "None of these"
        page.locator(".hr-none input").check()
        here = page.url
        page.keyboard.press("Control+Enter")
        if n < loops - 1:
            page.wait_for_url(lambda url: url != here and "/worker/tasks/" in url)
            page.wait_for_selector(".hr-toast")
            assert page.locator("#hr-bar .hr-file").inner_text() != name
            assert "Saved" in page.locator(".hr-toast").inner_text()
            page.screenshot(path=str(ARTIFACTS / "task-moderation-saved.png"))
        else:
            page.wait_for_url("**/worker/?msg=*")
    assert not errors

    summary = off_loop(report, run, routed)
    assert summary["status_counts"]["reviewed"] == 2 and summary["status_counts"]["invalid"] == 2
    assert summary["changed_by_reviewers"] == 0
    assert summary["model_precision"] is None  # the model claimed nothing: not "0.0%"
    assert summary["per_label"] == {}
    assert [b["bucket"] for b in summary["calibration"]["buckets"] if b["reviewed"]] == ["90-100"]
    assert summary["dag_run_id"] == "manual__person-moderation"
    html = off_loop(lambda: storage.path(summary["files"]["html"], run.conn_id).read_text())
    path = ARTIFACTS / "report-moderation.html"
    path.write_text(html)
    page.goto(path.as_uri())
    assert page.locator("#problems").is_visible()
    problems = page.locator("#problems").inner_text()
    assert "incoming/person-mod/not-an-image.jpg\tinvalid\tnot an image" in problems
    assert "incoming/person-mod/notes.txt\tinvalid\tunsupported extension" in problems
    assert "DAG run manual__person-moderation" in page.locator("header").inner_text()
    # the Reviewers table names the person who answered (reviewers.json), not A2I's opaque workerId
    reviewer_rows = page.locator("#reviewers tbody tr")
    assert reviewer_rows.count() == 1 and reviewer_rows.first.locator("td").first.inner_text() == "person-1"
    page.screenshot(path=str(ARTIFACTS / "report-moderation.png"), full_page=True)
    page.close()


def test_person_fixes_boxes_with_zoom_undo_and_the_report_draws_labelled_boxes(stack, browser):
    from human_review import storage
    from human_review.stages.report import report

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    keys = seed(stack, "incoming/person-det", ["astronaut.png"])
    run = run_context("object-detection", "person-detection", keys)
    routed = run_until_review(run)
    assert sum(r.loops for r in routed) == 1  # a 61% and a 35% candidate: flagged by face < 80

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, stack, "person-2", "object-detection")
    boxes = page.locator("crowd-bounding-box .hr-box")
    assert boxes.count() == 2  # the claims (99% face, 61% mission patch); the 35% candidate is listed, not drawn
    listed = page.locator(".hr-model-boxes").inner_text()
    assert "model: 99%, claimed" in listed and "model: 61%, claimed" in listed and "model: 35%, unlikely (not drawn)" in listed
    page.locator("crowd-bounding-box .hr-stage").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "task-boxes.png"))

    page.click(".hr-tools button[title^='Zoom in']")
    assert page.locator(".hr-zoom-level").inner_text() == "125%"
    page.click(".hr-tools button[title^='Fit']")
    # delete the patch's box (the second claim), undo, delete again
    patch = boxes.nth(1)
    patch.click(position={"x": 40, "y": 40})
    page.keyboard.press("Delete")
    assert boxes.count() == 1
    page.keyboard.press("Control+z")
    assert boxes.count() == 2
    boxes.nth(1).click(position={"x": 40, "y": 40})
    page.keyboard.press("Delete")
    assert boxes.count() == 1
    page.keyboard.press("Control+Enter")
    page.wait_for_url("**/worker/?msg=*")

    summary = off_loop(report, run, routed)
    assert summary["status_counts"]["reviewed"] == 1
    assert summary["per_label"]["face"] == {"confirmed": 1, "removed": 1, "added": 0, "precision": 0.5, "recall": 1.0}
    html = off_loop(lambda: storage.path(summary["files"]["html"], run.conn_id).read_text())
    path = ARTIFACTS / "report-boxes.html"
    path.write_text(html)
    page.goto(path.as_uri())
    page.locator("#gallery").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "report-boxes.png"), full_page=True)
    page.close()
