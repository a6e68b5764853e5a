"""Templates written the way AWS's samples and notebooks tell users to, answered in Chromium.

Each test drives the real page (the local review service, its crowd elements, the image proxy)
and reads the answer back from the output.json the service wrote to S3 (moto's server)."""

from __future__ import annotations

import base64
import io
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
TEMPLATES = {
    "aws-object-detection": "object_detection_aws_style.liquid.html",
    "aws-rekognition": "rekognition_notebook_style.liquid.html",
    "js-api": "js_api.liquid.html",
    "new-elements": "new_elements.liquid.html",
    "standalone-entities": "standalone_entities.liquid.html",
}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("review_service_browser"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="browser tests need Debian's Chromium at /usr/bin/chromium (make browser)"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    d = tmp_path_factory.mktemp("pipelines")
    base = yaml.safe_load((config.PIPELINES_DIR / "content_moderation.yaml").read_text())
    for flow, template in TEMPLATES.items():
        raw = json.loads(json.dumps(base))
        raw["pipeline"] = flow
        raw["review"]["flow_definition"].pop("arn", None)
        raw["review"]["flow_definition"].update(name=flow, template=str(Path("..") / ".." / "tests" / "templates" / template))
        (d / f"{flow.replace('-', '_')}.yaml").write_text(yaml.safe_dump(raw))
    with local_stack(tmp_path_factory.mktemp("stack"), pipelines_dir=d) as s:
        from human_review_dev.samples import sample_photos

        s3 = s.s3_client()
        s3.put_object(Bucket=s.bucket, Key="incoming/aws/astronaut.png", Body=sample_photos()["astronaut.png"],
                      ContentType="image/png")
        yield s


def _start(stack, flow: str, doc: dict) -> str:
    name = f"aws-{uuid.uuid4().hex[:10]}"
    stack.a2i_client().start_human_loop(
        HumanLoopName=name, FlowDefinitionArn=f"arn:aws:sagemaker:us-east-1:000000000000:flow-definition/{flow}",
        HumanLoopInput={"InputContent": json.dumps(doc)})
    return name


def _answer(stack, name: str) -> dict:
    a2i = stack.a2i_client()
    deadline = time.monotonic() + 10
    while (d := a2i.describe_human_loop(HumanLoopName=name))["HumanLoopStatus"] != "Completed":
        assert time.monotonic() < deadline, d
        time.sleep(0.1)
    bucket, _, key = d["HumanLoopOutput"]["OutputS3Uri"].removeprefix("s3://").partition("/")
    out = json.loads(stack.s3_client().get_object(Bucket=bucket, Key=key)["Body"].read())
    return out["humanAnswers"][0]["answerContent"]


def _open(browser, stack, flow: str, worker: str):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{stack.review_url}/worker/")
    page.fill("input[name=worker_id]", worker)
    page.click("button[type=submit]")
    page.wait_for_selector("text=Queues")
    page.click(f"form[action='queues/{flow}/next'] button")
    page.wait_for_url("**/worker/tasks/**")
    page.wait_for_function("() => window.__humanReviewCrowdReady === true")
    page.wait_for_function("() => Array.from(document.querySelectorAll('#hr-task img:not(#remote)')).every(i => i.complete && i.naturalWidth > 0)")
    return page, errors


def _origin(page, selector: str) -> tuple[float, float]:
    page.locator(selector).scroll_into_view_if_needed()
    box = page.locator(selector).bounding_box()
    return box["x"] + 1, box["y"] + 1  # inside the stage's 1px border: image pixel (0, 0)


def _drag(page, x0, y0, x1, y1):
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=6)
    page.mouse.up()


def _submitted(page):
    page.click("button.hr-submit")
    try:
        page.wait_for_url("**/worker/?msg=*")
    except Exception:  # say what the page said (a refused answer shows its reason in the status line)
        raise AssertionError(f"not submitted; the page says: {page.inner_text('.hr-status')!r}") from None


def test_object_detection_template_as_aws_sample_instructs(stack, browser):
    """initial-value="{{ task.input.initialValue }}" and labels="{{ task.input.labels }}" print as
    JSON: the model's boxes are on the page, the labels are the input's, and a moved box and a
    drawn box come back in crowd-bounding-box's documented shape."""
    name = _start(stack, "aws-object-detection", {
        "taskObject": f"s3://{stack.bucket}/incoming/aws/astronaut.png",
        "labels": ["helmet", "flag"],
        "initialValue": [{"label": "helmet", "left": 10, "top": 20, "width": 100, "height": 120},
                         {"label": "flag", "left": 300, "top": 300, "width": 50, "height": 40}],
    })
    page, errors = _open(browser, stack, "aws-object-detection", "od-reviewer")
    assert page.locator("crowd-bounding-box .hr-box").count() == 2
    assert page.eval_on_selector_all("crowd-bounding-box .hr-label-select option", "os => os.map(o => o.value)") == ["helmet", "flag"]
    x, y = _origin(page, "crowd-bounding-box .hr-stage")
    _drag(page, x + 60, y + 80, x + 75, y + 85)  # move the helmet box by (+15, +5)
    page.select_option("crowd-bounding-box .hr-label-select", "flag")
    _drag(page, x + 200, y + 100, x + 260, y + 180)  # draw a flag box
    page.screenshot(path=str(ARTIFACTS / "aws-object-detection.png"), full_page=True)
    _submitted(page)
    assert not errors, errors
    result = _answer(stack, name)["annotatedResult"]
    assert result["inputImageProperties"] == {"height": 512, "width": 512}
    assert result["initialValueModified"] is True
    moved, kept, drawn = result["boundingBoxes"]
    assert moved == {"height": 120, "label": "helmet", "left": 25, "top": 25, "width": 100}
    assert kept == {"height": 40, "label": "flag", "left": 300, "top": 300, "width": 50}
    assert drawn["label"] == "flag" and sorted(drawn) == ["height", "label", "left", "top", "width"]
    # to the pixel: the pointer at image pixel (200, 100) is (200, 100), not one off for the stage's border
    assert (drawn["left"], drawn["top"], drawn["width"], drawn["height"]) == (200, 100, 60, 80)
    page.close()


def test_untouched_prefilled_boxes_report_initial_value_not_modified(stack, browser):
    name = _start(stack, "aws-object-detection", {
        "taskObject": f"s3://{stack.bucket}/incoming/aws/astronaut.png", "labels": ["helmet"],
        "initialValue": [{"label": "helmet", "left": 10, "top": 20, "width": 100, "height": 120}]})
    page, errors = _open(browser, stack, "aws-object-detection", "od-reviewer-2")
    _submitted(page)
    result = _answer(stack, name)["annotatedResult"]
    assert result["initialValueModified"] is False
    assert result["boundingBoxes"] == [{"height": 120, "label": "helmet", "left": 10, "top": 20, "width": 100}]
    assert not errors, errors
    page.close()


def _rekognition_input(stack, labels):
    return {
        "aiServiceRequest": {"image": {"s3Object": {"bucket": stack.bucket, "name": "incoming/aws/astronaut.png"}}},
        "selectedAiServiceResponse": {"moderationLabels": labels},
    }


def test_rekognition_notebook_template_http_url_through_capture_and_js_literal_categories(stack, browser):
    name = _start(stack, "aws-rekognition", _rekognition_input(stack, [
        {"name": "Suggestive", "parentName": "", "confidence": 80.0},
        {"name": "Female Swimwear Or Underwear", "parentName": "Suggestive", "confidence": 70.0}]))
    page, errors = _open(browser, stack, "aws-rekognition", "rk-reviewer")  # the image loaded through the proxy
    labels = page.locator("crowd-rekognition-detect-moderation-labels fieldset label")
    assert [t.strip() for t in labels.all_inner_texts()] == ["Suggestive", "Female Swimwear Or Underwear", "None of these"]
    page.click("button.hr-submit")  # nothing chosen: refused
    assert "None of these" in page.inner_text(".hr-status")
    assert stack.a2i_client().describe_human_loop(HumanLoopName=name)["HumanLoopStatus"] == "InProgress"
    page.check("crowd-rekognition-detect-moderation-labels label:has-text('Female Swimwear') input")
    page.screenshot(path=str(ARTIFACTS / "aws-rekognition.png"), full_page=True)
    _submitted(page)
    assert not errors, errors
    assert _answer(stack, name) == {MODERATION_KEY: {"moderationLabels": [
        {"name": "Female Swimwear Or Underwear", "parentName": "Suggestive"}]}}
    page.close()


def test_rekognition_none_of_these_answers_an_empty_list_and_no_categories_cannot_submit(stack, browser):
    name = _start(stack, "aws-rekognition", _rekognition_input(stack, [{"name": "Violence", "parentName": ""}]))
    page, _errors = _open(browser, stack, "aws-rekognition", "rk-reviewer-2")
    page.check("crowd-rekognition-detect-moderation-labels label.hr-none input")
    _submitted(page)
    assert _answer(stack, name) == {MODERATION_KEY: {"moderationLabels": []}}
    page.close()
    empty = _start(stack, "aws-rekognition", _rekognition_input(stack, []))
    page, _errors = _open(browser, stack, "aws-rekognition", "rk-reviewer-3")
    assert "has no categories" in page.inner_text(".hr-unsupported")
    page.check("crowd-rekognition-detect-moderation-labels label.hr-none input")
    page.click("button.hr-submit")
    assert "no categories" in page.inner_text(".hr-status")
    assert stack.a2i_client().describe_human_loop(HumanLoopName=empty)["HumanLoopStatus"] == "InProgress"
    page.close()


@pytest.fixture()
def web_origin(tmp_path):
    """Another origin serving a public image, standing in for the web a template links to."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    (tmp_path / "example.png").write_bytes(_tiny_png())
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a, **k: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_crowd_elements_javascript_api(stack, browser, web_origin):
    stack.settings.image_origins = (web_origin,)
    try:
        name = _start(stack, "js-api", {"taskObject": f"s3://{stack.bucket}/incoming/aws/astronaut.png",
                                        "exampleImage": f"{web_origin}/example.png"})
        page, errors = _open(browser, stack, "js-api", "api-reviewer")
        # An undefined variable renders empty, and the author is told.
        assert page.inner_text("#missing") == "[]"
        assert "task.input.notThere" in page.inner_text(".hr-undefined")
        # A configured origin's image is allowed by the page's CSP.
        page.wait_for_function("() => document.getElementById('remote').complete")
        assert page.evaluate("document.getElementById('remote').naturalWidth") == 4
    finally:
        stack.settings.image_origins = ()
    assert page.evaluate("window.readyEvents") == 1
    # labels assigned from the ready event
    assert page.eval_on_selector_all("#annotator .hr-label-select option", "os => os.map(o => o.value)") == ["Cat", "Dog"]
    assert page.evaluate("annotator.labels") == ["Cat", "Dog"]
    assert page.input_value("crowd-input[name=typed] input") == "set by script"
    # native required on a plain select and a date input
    page.click("button.hr-submit")
    status = page.inner_text(".hr-status")
    assert "animal" in status and "seen" in status
    assert page.evaluate("window.submitHandlerCalls") == 0
    page.select_option("select[name=animal]", "cat")
    page.fill("input[name=seen]", "2020-05-01")  # after max
    page.click("button.hr-submit")
    assert "seen" in page.inner_text(".hr-status")
    page.fill("input[name=seen]", "2019-05-01")
    # the template's onsubmit runs once per click and its preventDefault stops the submission
    page.click("button.hr-submit")
    assert page.evaluate("window.submitHandlerCalls") == 1
    page.wait_for_selector("#errorBox crowd-alert[role=alert]")
    assert stack.a2i_client().describe_human_loop(HumanLoopName=name)["HumanLoopStatus"] == "InProgress"
    x, y = _origin(page, "#points .hr-stage")
    page.mouse.click(x + 100, y + 100)
    page.select_option("#points .hr-label-select", "Item B")
    page.mouse.click(x + 200, y + 150)
    assert len(page.evaluate("document.querySelector('crowd-keypoint').value.keypoints")) == 2
    # a handler that throws stops the submission too
    page.evaluate("window.throwOnSubmit = true")
    page.click("button.hr-submit")
    assert page.evaluate("window.submitHandlerCalls") == 2
    assert "template check exploded" in page.inner_text(".hr-status")
    assert stack.a2i_client().describe_human_loop(HumanLoopName=name)["HumanLoopStatus"] == "InProgress"
    page.evaluate("window.throwOnSubmit = false")
    x, y = _origin(page, "#annotator .hr-stage")
    page.select_option("#annotator .hr-label-select", "Dog")
    _drag(page, x + 50, y + 50, x + 150, y + 120)
    _submitted(page)
    assert [e for e in errors if "template check exploded" not in e] == []
    a = _answer(stack, name)
    # untouched elements are omitted, as AWS does
    assert "untouched" not in a and "untouchedSlider" not in a
    assert a["typed"] == "set by script" and a["animal"] == "cat" and a["seen"] == "2019-05-01"
    assert [k["label"] for k in a["points"]["keypoints"]] == ["Item A", "Item B"]
    (box,) = a["boxes"]["boundingBoxes"]
    assert box["label"] == "Dog" and "initialValueModified" not in a["boxes"]


def _tiny_png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 10, 10)).save(buf, format="PNG")
    return buf.getvalue()


def _mask_colors(png_b64: str) -> set[tuple[int, int, int]]:
    from PIL import Image

    img = Image.open(io.BytesIO(base64.b64decode(png_b64))).convert("RGBA")
    return {(r, g, b) for (r, g, b, a) in img.getdata() if a}


def test_line_polyline_segmentation_entities_and_card(stack, browser):
    caption = "Alice met Bob in Paris."
    name = _start(stack, "new-elements", {"taskObject": f"s3://{stack.bucket}/incoming/aws/astronaut.png",
                                          "title": "Card title", "caption": caption})
    page, errors = _open(browser, stack, "new-elements", "shapes-reviewer")
    assert page.inner_text("crowd-card .hr-card-heading") == "Card title"
    assert page.locator(".hr-unsupported").count() == 0
    x, y = _origin(page, "crowd-line .hr-stage")
    page.mouse.click(x + 10, y + 200)
    page.mouse.click(x + 400, y + 210)
    x, y = _origin(page, "crowd-polyline .hr-stage")
    for vx, vy in ((20, 20), (120, 60), (220, 30)):
        page.mouse.click(x + vx, y + vy)
    page.click("crowd-polyline .hr-finish-line")
    x, y = _origin(page, "crowd-semantic-segmentation .hr-stage")
    page.select_option("crowd-semantic-segmentation .hr-label-select", "Person")
    _drag(page, x + 100, y + 100, x + 200, y + 100)
    x, y = _origin(page, "crowd-instance-segmentation .hr-stage")
    page.click("crowd-instance-segmentation .hr-new-instance")
    _drag(page, x + 50, y + 50, x + 100, y + 50)
    page.click("crowd-instance-segmentation .hr-new-instance")
    _drag(page, x + 50, y + 300, x + 100, y + 300)
    # select "Bob" and tag it as a person, "Paris" as a place
    for word, label in (("Bob", "person"), ("Paris", "place")):
        page.evaluate("""([word]) => {
            const box = document.querySelector('crowd-entity-annotation .hr-entity-text');
            const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
            let n; while ((n = walker.nextNode())) { const i = n.textContent.indexOf(word);
              if (i >= 0) { const r = document.createRange(); r.setStart(n, i); r.setEnd(n, i + word.length);
                const s = window.getSelection(); s.removeAllRanges(); s.addRange(r); return; } } }""", [word])
        page.click(f"crowd-entity-annotation .hr-entity-label[data-label={label}]")
    page.screenshot(path=str(ARTIFACTS / "new-elements.png"), full_page=True)
    _submitted(page)
    assert not errors, errors
    a = _answer(stack, name)
    (line,) = a["horizon"]["lines"]
    assert line["label"] == "horizon" and len(line["vertices"]) == 2
    assert abs(line["vertices"][1]["x"] - 400) <= 2 and abs(line["vertices"][1]["y"] - 210) <= 2
    assert a["horizon"]["inputImageProperties"] == {"height": 512, "width": 512}
    (poly,) = a["edges"]["polylines"]
    assert [(round(v["x"] / 10), round(v["y"] / 10)) for v in poly["vertices"]] == [(2, 2), (12, 6), (22, 3)]
    sem = a["semantic"]
    assert sem["labelMappings"] == {"Person": {"color": "#ff7f0e"}}
    assert _mask_colors(sem["labeledImage"]["pngImageData"]) == {(0xff, 0x7f, 0x0e)}
    inst = a["instances"]
    assert inst["instances"] == [{"color": "#1f77b4", "label": "Person"}, {"color": "#ff7f0e", "label": "Person"}]
    assert _mask_colors(inst["labeledImage"]["pngImageData"]) == {(0x1f, 0x77, 0xb4), (0xff, 0x7f, 0x0e)}
    assert a["entities"] == {"entities": [
        {"endOffset": caption.index("Bob") + 3, "label": "person", "startOffset": caption.index("Bob")},
        {"endOffset": caption.index("Paris") + 5, "label": "place", "startOffset": caption.index("Paris")}]}
    page.close()


def test_time_spent_is_active_time_on_the_page_not_time_since_claim(stack, browser):
    from datetime import datetime

    name = _start(stack, "aws-rekognition", _rekognition_input(stack, [{"name": "Violence", "parentName": ""}]))
    page, _errors = _open(browser, stack, "aws-rekognition", "timed-reviewer")
    task_url = page.url
    page.goto(f"{stack.review_url}/worker/")  # away from the task, still holding its claim
    time.sleep(3)
    page.goto(task_url)
    page.wait_for_function("() => window.__humanReviewCrowdReady === true")
    page.check("crowd-rekognition-detect-moderation-labels label:has-text('Violence') input")
    _submitted(page)
    a2i = stack.a2i_client()
    d = a2i.describe_human_loop(HumanLoopName=name)
    bucket, _, key = d["HumanLoopOutput"]["OutputS3Uri"].removeprefix("s3://").partition("/")
    (answer,) = json.loads(stack.s3_client().get_object(Bucket=bucket, Key=key)["Body"].read())["humanAnswers"]
    parse = lambda t: datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ")  # noqa: E731
    wall = (parse(answer["submissionTime"]) - parse(answer["acceptanceTime"])).total_seconds()
    assert wall >= 3
    assert 0 <= answer["timeSpentInSeconds"] < wall - 2.5
    page.close()


def test_a_task_element_without_crowd_form_still_submits(stack, browser):
    text = "Ada Lovelace wrote to Babbage."
    name = _start(stack, "standalone-entities", {"taskObject": text, "labels": [
        {"label": "person", "shortDisplayName": "per", "fullDisplayName": "Person"}]})
    page, errors = _open(browser, stack, "standalone-entities", "entity-reviewer")
    page.evaluate("""() => {
        const box = document.querySelector('crowd-entity-annotation .hr-entity-text');
        const n = box.firstChild, r = document.createRange();
        r.setStart(n, 0); r.setEnd(n, 12);
        const s = window.getSelection(); s.removeAllRanges(); s.addRange(r); }""")
    page.click("crowd-entity-annotation .hr-entity-label[data-label=person]")
    _submitted(page)
    assert not errors, errors
    assert _answer(stack, name) == {"entities": {"entities": [{"endOffset": 12, "label": "person", "startOffset": 0}]}}
    page.close()
