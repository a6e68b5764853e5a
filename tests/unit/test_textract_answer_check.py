"""crowd-textract-analyze-document's answer: elements.py's schema, as the submit check and the
report apply it (answers.check), on a well-formed answer and on malformed ones."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

from human_review.portal import answers, elements  # noqa: E402
from human_review.portal.render import render  # noqa: E402

KEY = elements.TEXTRACT_KEY
TEMPLATE = (ROOT / "tests" / "templates" / "textract_forms_aws_style.liquid.html").read_text()
GOOD = {KEY: {"blocks": [
    {"blockType": "KEY_VALUE_SET", "id": "k1",
     "relationships": [{"type": "CHILD", "ids": ["w1"]}, {"type": "VALUE", "ids": ["v1"]}],
     "entityTypes": ["KEY"], "text": "Name:",
     "geometry": {"boundingBox": {"width": 0.1, "height": 0.05, "left": 0.07, "top": 0.3},
                  "polygon": [{"x": 0.07, "y": 0.3}, {"x": 0.17, "y": 0.3}]}},
    {"blockType": "KEY_VALUE_SET", "id": "v1", "relationships": [{"type": "CHILD", "ids": ["w2", "w3"]}],
     "entityTypes": ["VALUE"], "text": "Ana Silva"},
    {"blockType": "KEY_VALUE_SET", "id": "7c0e3a52-8f5e-4a8e-9a53-0b1f4a7b6c11",
     "relationships": [{"type": "VALUE", "ids": ["v2"]}], "entityTypes": ["KEY"], "text": "Phone"},
    {"blockType": "KEY_VALUE_SET", "id": "v2", "relationships": [], "entityTypes": ["VALUE"], "text": ""},
]}}


def _submit_check(content):
    """What the worker API's submit check runs for a task of the Textract template."""
    rendered = render(TEMPLATE, {"aiServiceRequest": {"document": {"s3Object": {"bucket": "b", "name": "incoming/f.png"}}},
                                 "selectedAiServiceResponse": {"blocks": []},
                                 "humanLoopContext": {"importantFormKeys": ["Phone"]}}).html
    schemas = {k: e.schema for k, e in elements.expected_parts(rendered).items() if e.schema}
    assert set(schemas) == {KEY}
    return answers.check(content, answers.template_elements(rendered), schemas)


def test_the_element_is_supported_with_a_confirmed_shape_under_its_fixed_key():
    e = elements.ELEMENTS["crowd-textract-analyze-document"]
    assert e.supported and e.confirmed and e.fixed_key == KEY and e.schema
    assert e.docs_url == "https://docs.aws.amazon.com/sagemaker/latest/dg/a2i-crowd-textract-detection.html"
    assert "geometry is this service's addition" in e.answer


def test_a_well_formed_answer_passes_at_submit_and_in_the_report():
    assert _submit_check(GOOD) == []
    assert answers.check(GOOD) == []  # the report: no template known
    assert _submit_check({KEY: {"blocks": []}}) == []  # every pair marked not valid


@pytest.mark.parametrize(("block_change", "field", "says"), [
    ({"text": 5}, "['blocks'][0]['text']", "is not of type 'string'"),
    ({"id": None}, "['blocks'][0]['id']", "is not of type 'string'"),
    ({"blockType": "WORD"}, "['blocks'][0]['blockType']", "KEY_VALUE_SET"),
    ({"entityTypes": ["KEYS"]}, "['blocks'][0]['entityTypes'][0]", "is not one of"),
    ({"relationships": [{"type": "PARENT", "ids": []}]}, "['blocks'][0]['relationships'][0]['type']", "is not one of"),
    ({"relationships": [{"type": "CHILD", "ids": "w1"}]}, "['blocks'][0]['relationships'][0]['ids']", "is not of type 'array'"),
    ({"geometry": {"boundingBox": {"width": "wide", "height": 1, "left": 0, "top": 0}}},
     "['blocks'][0]['geometry']['boundingBox']['width']", "is not of type 'number'"),
])
def test_a_malformed_block_is_refused_naming_the_field(block_change, field, says):
    bad = {KEY: {"blocks": [{**GOOD[KEY]["blocks"][0], **block_change}] + GOOD[KEY]["blocks"][1:]}}
    for found in (_submit_check(bad), answers.check(bad)):
        assert len(found) == 1 and found[0].startswith(f"answerContent[{KEY!r}]{field}: ") and says in found[0], found


def test_missing_fields_and_wrong_containers_are_refused():
    (no_text,) = _submit_check({KEY: {"blocks": [{k: v for k, v in GOOD[KEY]["blocks"][1].items() if k != "text"}]}})
    assert no_text == f"answerContent[{KEY!r}]['blocks'][0]: 'text' is a required property"
    (no_blocks,) = _submit_check({KEY: {"Blocks": []}})
    assert "'blocks' is a required property" in no_blocks
    (not_a_list,) = _submit_check({KEY: {"blocks": {"blockType": "KEY_VALUE_SET"}}})
    assert f"answerContent[{KEY!r}]['blocks']: " in not_a_list and "is not of type 'array'" in not_a_list


def test_a_template_without_the_element_does_not_take_a_textract_answer():
    rendered = '<crowd-form><crowd-input name="comment"></crowd-input></crowd-form>'
    schemas = {k: e.schema for k, e in elements.expected_parts(rendered).items() if e.schema}
    assert answers.check(GOOD, answers.template_elements(rendered), schemas) != []
