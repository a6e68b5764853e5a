"""crowd-textract-analyze-document in Chromium: AWS's Textract forms template, as its built-in task
writes it (tests/templates/textract_forms_aws_style.liquid.html), on a form image drawn here, with
Textract-shaped blocks whose boxes are the drawn words' own. The answer is read back from the
output.json the service wrote to S3 (moto's server) and compared with the documented shape
(https://docs.aws.amazon.com/sagemaker/latest/dg/a2i-crowd-textract-detection.html, "Output")."""

from __future__ import annotations

import io
import json
import re
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
FLOW = "textract-forms"
TEXTRACT_KEY = "AWS/Textract/AnalyzeDocument/Forms/V1"
DOCUMENT_KEY = "incoming/textract/form.png"
WIDTH, HEIGHT = 600, 260
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("review_service_browser"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="browser tests need Debian's Chromium at /usr/bin/chromium (make browser)"),
]

# The form: what is drawn, and what the "model" read (one OCR slip: "Silve").
LINES = [("Name:", "Ana", "Silva"), ("Date:", "2024-01-05")]
READ_AS = {"Silva": "Silve"}


def _form() -> tuple[bytes, dict[str, tuple[int, int, int, int]]]:
    """A PNG of the form and each drawn word's box in pixels (left, top, right, bottom)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=28)
    img = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(img)
    boxes = {}
    for row, words in enumerate(LINES):
        x, y = 40, 60 + 80 * row
        for word in words:
            draw.text((x, y), word, fill="black", font=font)
            boxes[word] = draw.textbbox((x, y), word, font=font)
            x += int(draw.textlength(word + " ", font=font))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue(), boxes


PNG, WORD_BOXES = _form()


def _geometry(*words: str) -> dict:
    """Textract's Geometry (ratios of the page) of the box around these drawn words."""
    left = min(WORD_BOXES[w][0] for w in words) / WIDTH
    top = min(WORD_BOXES[w][1] for w in words) / HEIGHT
    right = max(WORD_BOXES[w][2] for w in words) / WIDTH
    bottom = max(WORD_BOXES[w][3] for w in words) / HEIGHT
    return {"BoundingBox": {"Width": right - left, "Height": bottom - top, "Left": left, "Top": top},
            "Polygon": [{"X": left, "Y": top}, {"X": right, "Y": top}, {"X": right, "Y": bottom}, {"X": left, "Y": bottom}]}


def _camel_geometry(*words: str) -> dict:
    g = _geometry(*words)
    return {"boundingBox": {k[0].lower() + k[1:]: v for k, v in g["BoundingBox"].items()},
            "polygon": [{"x": p["X"], "y": p["Y"]} for p in g["Polygon"]]}


def _blocks() -> list[dict]:
    """AnalyzeDocument's Blocks for the form (FORMS), PascalCase as Textract returns them."""
    word_id = {w: f"w-{i}" for i, w in enumerate(w for line in LINES for w in line)}
    blocks: list[dict] = [{"BlockType": "PAGE", "Id": "page-1", "Geometry": _geometry("Name:", "2024-01-05"),
                           "Relationships": [{"Type": "CHILD", "Ids": ["line-0", "line-1"]}]}]
    for i, words in enumerate(LINES):
        blocks.append({"BlockType": "LINE", "Id": f"line-{i}", "Confidence": 99.1,
                       "Text": " ".join(READ_AS.get(w, w) for w in words), "Geometry": _geometry(*words),
                       "Relationships": [{"Type": "CHILD", "Ids": [word_id[w] for w in words]}]})
    for w, i in word_id.items():
        blocks.append({"BlockType": "WORD", "Id": i, "Text": READ_AS.get(w, w), "TextType": "PRINTED",
                       "Confidence": 98.0, "Geometry": _geometry(w)})
    for key, value in (("Name:", ("Ana", "Silva")), ("Date:", ("2024-01-05",))):
        k, v = f"key-{key[:-1].lower()}", f"value-{key[:-1].lower()}"
        blocks.append({"BlockType": "KEY_VALUE_SET", "Id": k, "EntityTypes": ["KEY"], "Confidence": 71.5,
                       "Geometry": _geometry(key), "Relationships": [
                           {"Type": "VALUE", "Ids": [v]}, {"Type": "CHILD", "Ids": [word_id[key]]}]})
        blocks.append({"BlockType": "KEY_VALUE_SET", "Id": v, "EntityTypes": ["VALUE"], "Confidence": 71.5,
                       "Geometry": _geometry(*value), "Relationships": [{"Type": "CHILD", "Ids": [word_id[w] for w in value]}]})
    return blocks


def _camel(v):
    """The same blocks as A2I's task input carries them (selectedAiServiceResponse: camelCase)."""
    if isinstance(v, list):
        return [_camel(x) for x in v]
    if isinstance(v, dict):
        return {k[0].lower() + k[1:]: _camel(x) for k, x in v.items()}
    return v


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    d = tmp_path_factory.mktemp("pipelines")
    raw = yaml.safe_load((config.PIPELINES_DIR / "content_moderation.yaml").read_text())
    raw["pipeline"] = FLOW
    raw["review"]["flow_definition"].pop("arn", None)
    raw["review"]["flow_definition"].update(
        name=FLOW, template=str(Path("..") / ".." / "tests" / "templates" / "textract_forms_aws_style.liquid.html"))
    (d / "textract_forms.yaml").write_text(yaml.safe_dump(raw))
    with local_stack(tmp_path_factory.mktemp("stack"), pipelines_dir=d) as s:
        s.s3_client().put_object(Bucket=s.bucket, Key=DOCUMENT_KEY, Body=PNG, ContentType="image/png")
        yield s


def _start(stack, blocks: list[dict], important_keys: list) -> str:
    name = f"tx-{uuid.uuid4().hex[:10]}"
    doc = {"aiServiceRequest": {"document": {"s3Object": {"bucket": stack.bucket, "name": DOCUMENT_KEY}},
                                "featureTypes": ["FORMS"]},
           "selectedAiServiceResponse": {"blocks": blocks},
           "humanLoopContext": {"importantFormKeys": important_keys}}
    stack.a2i_client().start_human_loop(
        HumanLoopName=name, FlowDefinitionArn=f"arn:aws:sagemaker:us-east-1:000000000000:flow-definition/{FLOW}",
        HumanLoopInput={"InputContent": json.dumps(doc)})
    return name


def _status(stack, name: str) -> str:
    return stack.a2i_client().describe_human_loop(HumanLoopName=name)["HumanLoopStatus"]


def _answer(stack, name: str) -> dict:
    a2i = stack.a2i_client()
    deadline = time.monotonic() + 10
    while (d := a2i.describe_human_loop(HumanLoopName=name))["HumanLoopStatus"] != "Completed":
        assert time.monotonic() < deadline, d
        time.sleep(0.1)
    bucket, _, key = d["HumanLoopOutput"]["OutputS3Uri"].removeprefix("s3://").partition("/")
    out = json.loads(stack.s3_client().get_object(Bucket=bucket, Key=key)["Body"].read())
    return out["humanAnswers"][0]["answerContent"]


def _open(browser, stack, worker: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{stack.review_url}/worker/")
    page.fill("input[name=worker_id]", worker)
    page.click("button[type=submit]")
    page.wait_for_selector("text=Queues")
    page.click(f"form[action='queues/{FLOW}/next'] button")
    page.wait_for_url("**/worker/tasks/**")
    page.wait_for_function("() => window.__humanReviewCrowdReady === true")
    page.wait_for_function("() => Array.from(document.querySelectorAll('#hr-task img')).every(i => i.complete && i.naturalWidth > 0)")
    return page, errors


def _submitted(page):
    page.click("button.hr-submit")
    try:
        page.wait_for_url("**/worker/?msg=*")
    except Exception:  # say what the page said (a refused answer shows its reason in the status line)
        raise AssertionError(f"not submitted; the page says: {page.inner_text('.hr-status')!r}") from None


PAIR = "crowd-textract-analyze-document li.hr-tx-pair"


def _pair(page, i: int):
    return page.locator(PAIR).nth(i)


def test_reviewer_corrects_a_value_drops_a_pair_and_marks_an_important_key_not_found(stack, browser):
    name = _start(stack, _blocks(), [{"importantFormKey": "Name", "importantFormKeyAliases": ["Full name"]},
                                     {"importantFormKey": "Phone", "importantFormKeyAliases": ["Tel."]}])
    page, errors = _open(browser, stack, "tx-reviewer")
    # Both pairs, their text assembled from the WORD children; keys read-only (no-key-edit).
    assert page.locator(PAIR).count() == 2
    assert page.eval_on_selector_all(f"{PAIR} input.hr-tx-key", "es => es.map(e => [e.value, e.readOnly])") == [
        ["Name:", True], ["Date:", True]]
    assert page.eval_on_selector_all(f"{PAIR} input.hr-tx-value", "es => es.map(e => e.value)") == ["Ana Silve", "2024-01-05"]
    # "Name" is found (as "Name:"), "Phone" is not: only Phone is asked for.
    assert _pair(page, 0).locator(".hr-tx-important-badge").is_visible()
    assert not _pair(page, 1).locator(".hr-tx-important-badge").is_visible()
    rows = page.locator("crowd-textract-analyze-document .hr-tx-key-row")
    assert [r.get_attribute("data-key") for r in rows.all() if r.is_visible()] == ["Phone"]
    # Each key's and value's box is drawn where the word is on the image (no-geometry-edit: drawn only).
    boxes = page.locator("crowd-textract-analyze-document .hr-tx-box")
    assert boxes.count() == 4
    stage = page.locator("crowd-textract-analyze-document .hr-tx-stage").bounding_box()
    key_box = page.locator(".hr-tx-box-key[data-index='0']").bounding_box()
    left, top, right, bottom = WORD_BOXES["Name:"]
    assert abs(key_box["x"] - (stage["x"] + 1 + left)) <= 1.5 and abs(key_box["y"] - (stage["y"] + 1 + top)) <= 1.5
    assert abs(key_box["width"] - (right - left)) <= 1.5 and abs(key_box["height"] - (bottom - top)) <= 1.5
    value_box = page.locator(".hr-tx-box-value[data-index='0']").bounding_box()
    assert abs(value_box["x"] - (stage["x"] + 1 + WORD_BOXES["Ana"][0])) <= 1.5
    assert abs(value_box["x"] + value_box["width"] - (stage["x"] + 1 + WORD_BOXES["Silva"][2])) <= 1.5

    # Phone unanswered: refused, with a visible reason.
    page.click("button.hr-submit")
    assert "Phone" in page.inner_text(".hr-status")
    assert _status(stack, name) == "InProgress"

    # Clicking a pair highlights its two boxes; clicking a box selects its pair.
    _pair(page, 0).click(position={"x": 4, "y": 4})  # the card's corner, off its inputs and checkboxes
    assert page.locator("crowd-textract-analyze-document .hr-tx-box.hr-selected").count() == 2
    page.locator(".hr-tx-box-value[data-index='1']").click()
    assert "hr-selected" in _pair(page, 1).get_attribute("class")
    assert page.eval_on_selector_all(".hr-tx-box.hr-selected", "es => es.map(e => e.dataset.index)") == ["1", "1"]

    _pair(page, 0).locator("input.hr-tx-value").fill("Ana Silva")
    _pair(page, 1).locator("input.hr-tx-invalid").check()
    page.locator(".hr-tx-key-row[data-key='Phone'] input.hr-tx-not-found").check()
    page.screenshot(path=str(ARTIFACTS / "textract-forms.png"), full_page=True)
    _submitted(page)
    assert not errors, errors
    assert _answer(stack, name) == {TEXTRACT_KEY: {"blocks": [
        {"blockType": "KEY_VALUE_SET", "id": "key-name",
         "relationships": [{"type": "CHILD", "ids": ["w-0"]}, {"type": "VALUE", "ids": ["value-name"]}],
         "entityTypes": ["KEY"], "text": "Name:", "geometry": _camel_geometry("Name:")},
        {"blockType": "KEY_VALUE_SET", "id": "value-name", "relationships": [{"type": "CHILD", "ids": ["w-1", "w-2"]}],
         "entityTypes": ["VALUE"], "text": "Ana Silva", "geometry": _camel_geometry("Ana", "Silva")},
    ]}}
    page.close()


def test_a2i_camelcase_input_a_typed_important_key_and_a_blank_value(stack, browser):
    name = _start(stack, _camel(_blocks()), ["name", "Phone"])  # keys as plain strings; "name" matches "Name:"
    page, errors = _open(browser, stack, "tx-reviewer-2")
    assert page.eval_on_selector_all(f"{PAIR} input.hr-tx-value", "es => es.map(e => e.value)") == ["Ana Silve", "2024-01-05"]
    assert page.locator("crowd-textract-analyze-document .hr-tx-box").count() == 4
    # Dropping the Name pair makes "name" an unanswered important key too.
    _pair(page, 0).locator("input.hr-tx-invalid").check()
    assert page.locator(".hr-tx-key-row[data-key='name']").is_visible()
    _pair(page, 0).locator("input.hr-tx-invalid").uncheck()
    assert not page.locator(".hr-tx-key-row[data-key='name']").is_visible()

    _pair(page, 1).locator("input.hr-tx-blank").check()
    assert _pair(page, 1).locator("input.hr-tx-value").is_disabled()
    page.locator(".hr-tx-key-row[data-key='Phone'] input.hr-tx-key-value").fill("+351 912 345 678")
    in_page = page.evaluate("document.querySelector('crowd-textract-analyze-document').value")
    _submitted(page)
    assert not errors, errors
    answer = _answer(stack, name)
    assert answer == {TEXTRACT_KEY: in_page}  # `value` is what is submitted (and its new ids are stable)
    k_name, k_date, k_phone, v_name, v_date, v_phone = answer[TEXTRACT_KEY]["blocks"]
    assert (k_name["id"], k_date["id"], v_name["id"], v_date["id"]) == ("key-name", "key-date", "value-name", "value-date")
    assert v_name["text"] == "Ana Silve"  # untouched
    assert v_date == {"blockType": "KEY_VALUE_SET", "id": "value-date", "relationships": [{"type": "CHILD", "ids": ["w-4"]}],
                      "entityTypes": ["VALUE"], "text": "", "geometry": _camel_geometry("2024-01-05")}
    assert UUID.match(k_phone["id"]) and UUID.match(v_phone["id"]) and k_phone["id"] != v_phone["id"]
    assert k_phone == {"blockType": "KEY_VALUE_SET", "id": k_phone["id"], "relationships": [{"type": "VALUE", "ids": [v_phone["id"]]}],
                       "entityTypes": ["KEY"], "text": "Phone"}
    assert v_phone == {"blockType": "KEY_VALUE_SET", "id": v_phone["id"], "relationships": [],
                       "entityTypes": ["VALUE"], "text": "+351 912 345 678"}
    page.close()


def test_untouched_submits_the_pairs_and_the_service_refuses_a_malformed_answer(stack, browser):
    name = _start(stack, _blocks(), [{"importantFormKey": "Date"}])
    page, errors = _open(browser, stack, "tx-reviewer-3")
    assert page.locator(".hr-tx-missing").is_hidden()  # the only important key is found
    # initialValue is assignable after load (here: only the Date pair and its words).
    blocks = [b for b in _blocks() if b["Id"] in ("key-date", "value-date", "w-3", "w-4")]
    page.evaluate("(b) => { document.querySelector('crowd-textract-analyze-document').initialValue = b; }", blocks)
    assert page.eval_on_selector_all(f"{PAIR} input.hr-tx-key", "es => es.map(e => e.value)") == ["Date:"]

    # The service checks the answer's shape (elements.py's schema) and names the field at fault.
    task_id = page.url.rstrip("/").rsplit("/", 1)[1]
    bad = {"answerContent": {TEXTRACT_KEY: {"blocks": [{"blockType": "KEY_VALUE_SET", "id": "key-date",
                                                         "relationships": [], "entityTypes": ["KEY"], "text": 5}]}}}
    r = page.request.post(f"{stack.review_url}/worker/api/tasks/{task_id}/submit", data=json.dumps(bad),
                          headers={"Content-Type": "application/json"})
    assert r.status == 400 and "['blocks'][0]['text']" in r.json()["detail"], r.text()
    assert _status(stack, name) == "InProgress"

    _submitted(page)  # untouched: the pairs as they stand are the answer
    assert not errors, errors
    assert _answer(stack, name) == {TEXTRACT_KEY: {"blocks": [
        {"blockType": "KEY_VALUE_SET", "id": "key-date",
         "relationships": [{"type": "CHILD", "ids": ["w-3"]}, {"type": "VALUE", "ids": ["value-date"]}],
         "entityTypes": ["KEY"], "text": "Date:", "geometry": _camel_geometry("Date:")},
        {"blockType": "KEY_VALUE_SET", "id": "value-date", "relationships": [{"type": "CHILD", "ids": ["w-4"]}],
         "entityTypes": ["VALUE"], "text": "2024-01-05", "geometry": _camel_geometry("2024-01-05")},
    ]}}
    page.close()
