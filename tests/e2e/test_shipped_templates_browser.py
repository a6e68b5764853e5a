"""Every shipped worker template (include/templates/), answered through its real page in Chromium
by the simulated reviewers' browser mode: a page that does not work fails here."""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

from human_review import config  # noqa: E402
from human_review.a2i import MODERATION_ANSWER_KEY  # noqa: E402
from human_review.reports.consolidation import consolidate  # noqa: E402
from human_review_dev.reviewers import SimulatedReviewers  # noqa: E402
from human_review_dev.stack import local_stack  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.xdist_group("review_service_browser"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="browser tests need Debian's Chromium at /usr/bin/chromium (make browser)"),
]


def test_every_shipped_template_is_answered_through_its_page():
    shipped = {p.name for p in (ROOT / "include" / "templates").glob("*.liquid.html")}
    covered = {"bounding_boxes.liquid.html", "moderation.liquid.html"}
    assert shipped == covered, f"add a browser e2e test for {sorted(shipped - covered)}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with local_stack(tmp_path_factory.mktemp("stack"), pipelines_dir=config.PIPELINES_DIR) as s:
        from human_review_dev.samples import sample_photos

        s.s3_client().put_object(Bucket=s.bucket, Key="incoming/e2e/astronaut.png", Body=sample_photos()["astronaut.png"],
                                 ContentType="image/png")
        yield s


def _start(stack, flow: str, doc: dict) -> str:
    name = f"e2e-{uuid.uuid4().hex[:10]}"
    stack.a2i_client().start_human_loop(
        HumanLoopName=name, FlowDefinitionArn=f"arn:aws:sagemaker:us-east-1:000000000000:flow-definition/{flow}",
        HumanLoopInput={"InputContent": json.dumps(doc)})
    return name


def _answers(stack, name: str) -> list[dict]:
    a2i = stack.a2i_client()
    deadline = time.monotonic() + 20
    while (d := a2i.describe_human_loop(HumanLoopName=name))["HumanLoopStatus"] != "Completed":
        assert time.monotonic() < deadline, d
        time.sleep(0.2)
    bucket, _, key = d["HumanLoopOutput"]["OutputS3Uri"].removeprefix("s3://").partition("/")
    return json.loads(stack.s3_client().get_object(Bucket=bucket, Key=key)["Body"].read())["humanAnswers"]


def test_bounding_boxes_template_in_the_browser(stack):
    task_object = f"s3://{stack.bucket}/incoming/e2e/astronaut.png"
    name = _start(stack, "object-detection", {
        "taskObject": task_object, "objectKey": "incoming/e2e/astronaut.png", "pipeline": "object-detection",
        "flaggedBy": ["face < 70"], "modelSummary": "2 faces", "prediction": {}, "labels": ["face"],
        "imageWidth": 512, "imageHeight": 512,
        "initialValue": [{"label": "face", "left": 100, "top": 120, "width": 100, "height": 120, "confidence": 65.0},
                         {"label": "face", "left": 300, "top": 40, "width": 60, "height": 60, "confidence": 31.0}],
    })
    with SimulatedReviewers(stack.review_url, ["object-detection"], policy="correct", mode="browser") as reviewers:
        assert reviewers.wait_for(1, timeout=60), reviewers.errors
    assert not reviewers.errors, reviewers.errors
    (answer,) = _answers(stack, name)
    result = answer["answerContent"]["annotatedResult"]
    assert result == reviewers.submissions[0].answer_content["annotatedResult"]
    assert result["inputImageProperties"] == {"height": 512, "width": 512}
    assert result["initialValueModified"] is True
    (box,) = result["boundingBoxes"]  # the 31% box was deleted on the page
    assert box["label"] == "face" and (box["width"], box["height"]) == (100, 120)
    assert (box["left"], box["top"]) != (100, 120)
    assert abs(box["left"] - 100) <= 5 and abs(box["top"] - 120) <= 5
    assert len(consolidate([answer])["boxes"]) == 1


def test_moderation_template_in_the_browser(stack):
    task_object = f"s3://{stack.bucket}/incoming/e2e/astronaut.png"
    base = {"taskObject": task_object, "objectKey": "incoming/e2e/astronaut.png", "pipeline": "content-moderation",
            "flaggedBy": ["Suggestive < 98"], "modelSummary": "Suggestive 80%", "prediction": {},
            "labelCategories": ["Explicit Nudity", "Suggestive", "Violence"]}
    flagged = _start(stack, "content-moderation", {**base, "modelLabels": [
        {"name": "Suggestive", "parentName": "", "confidence": 80.0},
        {"name": "Violence", "parentName": "", "confidence": 20.0}]})
    clean = _start(stack, "content-moderation", {**base, "modelLabels": []})
    with SimulatedReviewers(stack.review_url, ["content-moderation"], policy="correct", mode="browser") as reviewers:
        assert reviewers.wait_for(2, timeout=60), reviewers.errors
    assert not reviewers.errors, reviewers.errors
    (answer,) = _answers(stack, flagged)
    assert answer["answerContent"] == {MODERATION_ANSWER_KEY: {"moderationLabels": [{"name": "Suggestive", "parentName": ""}]}}
    assert consolidate([answer])["labels"] == ["Suggestive"]
    (answer,) = _answers(stack, clean)  # "None of these" on the page
    assert answer["answerContent"] == {MODERATION_ANSWER_KEY: {"moderationLabels": []}}
