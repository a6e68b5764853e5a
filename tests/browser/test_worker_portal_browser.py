"""A reviewer in a real browser (Playwright driving Debian's Chromium) against the local review service.

Screenshots go to test-artifacts/browser/ (git-ignored)."""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

from human_review import config  # noqa: E402
from human_review_dev.stack import local_stack  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "browser"
MODERATION_KEY = "AWS/Rekognition/DetectModerationLabels/Image/V3"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("review_service_browser"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="browser tests need Debian's Chromium at /usr/bin/chromium (make browser)"),
]


def _pipeline(directory: Path, flow: str, *, base: str, **fields) -> None:
    raw = yaml.safe_load((config.PIPELINES_DIR / base).read_text())
    raw["pipeline"] = flow
    raw["review"]["flow_definition"].pop("arn", None)
    raw["review"]["flow_definition"].update(name=flow, **fields)
    (directory / f"{flow.replace('-', '_')}.yaml").write_text(yaml.safe_dump(raw))


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    d = tmp_path_factory.mktemp("pipelines")
    for f in ("content_moderation.yaml", "object_detection.yaml"):
        (d / f).write_text((config.PIPELINES_DIR / f).read_text())
    rel = Path("..") / ".." / "tests" / "templates"
    _pipeline(d, "all-elements", base="content_moderation.yaml", template=str(rel / "all_elements.liquid.html"))
    _pipeline(d, "unsupported", base="content_moderation.yaml", template=str(rel / "unsupported_element.liquid.html"))
    with local_stack(tmp_path_factory.mktemp("stack"), pipelines_dir=d) as s:
        from human_review_dev.samples import sample_photos

        s.s3_client().put_object(Bucket=s.bucket, Key="incoming/browser/astronaut.png",
                                 Body=sample_photos()["astronaut.png"], ContentType="image/png")
        yield s


def _start(stack, flow: str, doc: dict) -> str:
    name = f"br-{uuid.uuid4().hex[:10]}"
    stack.a2i_client().start_human_loop(
        HumanLoopName=name, FlowDefinitionArn=f"arn:aws:sagemaker:us-east-1:000000000000:flow-definition/{flow}",
        HumanLoopInput={"InputContent": json.dumps(doc)})
    return name


def _output(stack, name: str) -> dict:
    a2i = stack.a2i_client()
    deadline = time.monotonic() + 10
    while (d := a2i.describe_human_loop(HumanLoopName=name))["HumanLoopStatus"] != "Completed":
        assert time.monotonic() < deadline, d
        time.sleep(0.1)
    bucket, _, key = d["HumanLoopOutput"]["OutputS3Uri"].removeprefix("s3://").partition("/")
    return json.loads(stack.s3_client().get_object(Bucket=bucket, Key=key)["Body"].read())


def _sign_in(page, stack, worker: str) -> None:
    t = time.perf_counter()
    page.goto(f"{stack.review_url}/worker/")
    page.fill("input[name=worker_id]", worker)
    page.click("button[type=submit]")
    page.wait_for_selector("text=Queues")
    return time.perf_counter() - t


def _open_queue(page, flow: str) -> float:
    t = time.perf_counter()
    page.click(f"form[action='queues/{flow}/next'] button")
    page.wait_for_url("**/worker/tasks/**")
    page.wait_for_function("() => Array.from(document.querySelectorAll('#hr-task img')).every(i => i.complete && i.naturalWidth > 0)")
    return time.perf_counter() - t


def test_reviewer_draws_boxes_and_picks_moderation_labels(stack, browser):
    from human_review.reports.consolidation import consolidate

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    task_object = f"s3://{stack.bucket}/incoming/browser/astronaut.png"
    det = _start(stack, "object-detection", {
        "taskObject": task_object, "objectKey": "incoming/browser/astronaut.png", "pipeline": "object-detection",
        "flaggedBy": ["<script>window.pwned=1</script>"], "modelSummary": "1 face", "prediction": {},
        "labels": ["face"], "imageWidth": 512, "imageHeight": 512,
        "initialValue": [{"label": "face", "left": 10, "top": 20, "width": 100, "height": 120, "confidence": 60.0}],
    })
    mod = _start(stack, "content-moderation", {
        "taskObject": task_object, "objectKey": "incoming/browser/astronaut.png", "pipeline": "content-moderation",
        "flaggedBy": ["Suggestive < 98"], "modelSummary": "<img src=x onerror=window.pwned=2>",
        "prediction": {}, "labelCategories": ["Explicit Nudity", "Suggestive", "Violence"], "modelLabels": [],
    })
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    console_errors: list[str] = []
    page.on("pageerror", lambda e: console_errors.append(str(e)))
    _sign_in(page, stack, "browser-reviewer")
    load_seconds = _open_queue(page, "object-detection")
    assert page.locator("crowd-bounding-box .hr-box").count() == 1  # the pre-filled box
    page.locator("crowd-bounding-box .hr-stage").scroll_into_view_if_needed()
    stage = page.locator("crowd-bounding-box .hr-stage").bounding_box()
    x, y = stage["x"] + 1, stage["y"] + 1  # inside the 1px border: image pixel (0, 0)
    # draw a new box (200,250)-(300,330)
    page.mouse.move(x + 200, y + 250)
    page.mouse.down()
    page.mouse.move(x + 300, y + 330, steps=5)
    page.mouse.up()
    # resize it by its bottom-right handle to (320, 350)
    page.mouse.move(x + 300, y + 330)
    page.mouse.down()
    page.mouse.move(x + 320, y + 350, steps=5)
    page.mouse.up()
    # move the model's box by (+10, +10)
    page.mouse.move(x + 60, y + 80)
    page.mouse.down()
    page.mouse.move(x + 70, y + 90, steps=5)
    page.mouse.up()
    assert page.locator("crowd-bounding-box .hr-box").count() == 2
    page.screenshot(path=str(ARTIFACTS / "bounding-box-before-submit.png"), full_page=True)
    assert page.evaluate("window.pwned") is None  # the task input's <script> stayed text
    page.click("button.hr-submit")
    page.wait_for_url("**/worker/?msg=*")

    _open_queue(page, "content-moderation")
    assert page.evaluate("window.pwned") is None
    page.check("crowd-rekognition-detect-moderation-labels label:has-text('Suggestive') input")
    page.check("crowd-rekognition-detect-moderation-labels label:has-text('Violence') input")
    page.screenshot(path=str(ARTIFACTS / "moderation-before-submit.png"), full_page=True)
    page.click("button.hr-submit")
    page.wait_for_url("**/worker/?msg=*")
    page.screenshot(path=str(ARTIFACTS / "queues-after-submit.png"), full_page=True)
    assert not console_errors, console_errors

    out = _output(stack, det)
    (answer,) = out["humanAnswers"]
    from human_review.portal.outputs import worker_identity

    assert answer["workerId"] == worker_identity(stack.settings.issuer, "browser-reviewer")[0]
    boxes = answer["answerContent"]["annotatedResult"]
    assert boxes["inputImageProperties"] == {"height": 512, "width": 512}
    moved, drawn = boxes["boundingBoxes"]
    # initialValueModified sits on the answer, not on each box (AWS's object-detection sample)
    assert boxes["initialValueModified"] is True
    assert moved == {"height": 120, "label": "face", "left": 20, "top": 30, "width": 100}
    assert drawn["label"] == "face" and "initialValueModified" not in drawn
    assert abs(drawn["left"] - 200) <= 2 and abs(drawn["top"] - 250) <= 2
    assert abs(drawn["width"] - 120) <= 2 and abs(drawn["height"] - 100) <= 2
    consolidated = consolidate(out["humanAnswers"])
    assert len(consolidated["boxes"]) == 2

    out = _output(stack, mod)
    labels = out["humanAnswers"][0]["answerContent"][MODERATION_KEY]["moderationLabels"]
    assert sorted(lab["name"] for lab in labels) == ["Suggestive", "Violence"]
    assert sorted(consolidate(out["humanAnswers"])["labels"]) == ["Suggestive", "Violence"]
    print(f"\ntask page load (claim + render + image through the proxy): {load_seconds * 1000:.0f} ms")
    page.close()


def test_every_supported_element_submits_its_aws_shape_and_unsupported_ones_warn(stack, browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    task_object = f"s3://{stack.bucket}/incoming/browser/astronaut.png"
    name = _start(stack, "all-elements", {
        "taskObject": task_object, "title": "<b>astronaut</b>", "caption": "An astronaut in space",
        "scenes": ["Indoor", "Outdoor", "Space"], "objects": ["Flag", "Helmet", "Rocket"]})
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _sign_in(page, stack, "element-tester")
    _open_queue(page, "all-elements")
    assert page.locator(".hr-unsupported").count() == 0
    assert "<b>astronaut</b>" in page.inner_text("crowd-alert")  # escaped, shown as text
    # The form refuses to submit until required answers are given.
    page.click("button.hr-submit")
    assert "pick a category" in page.inner_text(".hr-status")
    page.check("crowd-image-classifier label:has-text('Space') input")
    page.check("crowd-image-classifier-multi-select label:has-text('Helmet') input")
    page.check("crowd-image-classifier-multi-select label:has-text('Flag') input")
    page.check("crowd-classifier label:has-text('Neutral') input")
    page.check("crowd-classifier-multi-select label:has-text('Space') input")
    page.fill("crowd-input input", "looks fine")
    page.fill("crowd-text-area textarea", "two\nlines")
    page.check("crowd-checkbox input")
    page.check("crowd-radio-button[name=good] input")
    page.locator("crowd-slider input").fill("8")
    page.locator("crowd-keypoint .hr-stage").scroll_into_view_if_needed()
    kp = page.locator("crowd-keypoint .hr-stage").bounding_box()
    page.mouse.click(kp["x"] + 1 + 240, kp["y"] + 1 + 120)
    page.locator("crowd-polygon .hr-stage").scroll_into_view_if_needed()
    pg = page.locator("crowd-polygon .hr-stage").bounding_box()
    px, py = pg["x"] + 1, pg["y"] + 1
    for vx, vy in ((100, 100), (200, 100), (150, 200)):
        page.mouse.click(px + vx, py + vy)
    page.mouse.click(px + 100, py + 100)  # back on the first vertex closes the polygon
    page.screenshot(path=str(ARTIFACTS / "all-elements-before-submit.png"), full_page=True)
    page.click("button.hr-submit")
    page.wait_for_url("**/worker/?msg=*")
    assert not errors, errors
    a = _output(stack, name)["humanAnswers"][0]["answerContent"]
    assert a["scene"] == {"label": "Space"}
    assert sorted(a["objects"]["labels"]) == ["Flag", "Helmet"]
    assert a["sentiment"] == {"label": "Neutral"}
    assert a["topics"] == {"labels": ["Space"]}
    assert a["comment"] == "looks fine" and a["notes"] == "two\nlines"
    assert a["blurry"] == {"yes": True}
    assert a["good"] == {"good": True} and a["bad"] == {"bad": False}
    assert a["quality"] == 8
    assert a["eyes"]["inputImageProperties"] == {"height": 512, "width": 512}
    (k,) = a["eyes"]["keypoints"]
    assert k["label"] == "eye" and abs(k["x"] - 240) <= 2 and abs(k["y"] - 120) <= 2
    (poly,) = a["outline"]["polygons"]
    assert poly["label"] == "person" and len(poly["vertices"]) == 3
    assert abs(poly["vertices"][1]["x"] - 200) <= 2

    # An element the service does not implement: a visible warning, and no submission.
    other = _start(stack, "unsupported", {"taskObject": task_object, "title": "t"})
    page.goto(f"{stack.review_url}/worker/")
    _open_queue(page, "unsupported")
    page.wait_for_function("() => window.__humanReviewCrowdReady === true")
    warning = page.locator(".hr-unsupported")
    assert warning.count() == 1 and "crowd-kendra-question-answer" in warning.inner_text() and warning.is_visible()
    page.click("button.hr-submit")
    assert "does not support" in page.inner_text(".hr-status")
    page.screenshot(path=str(ARTIFACTS / "unsupported-element.png"), full_page=True)
    assert stack.a2i_client().describe_human_loop(HumanLoopName=other)["HumanLoopStatus"] == "InProgress"
    page.close()
