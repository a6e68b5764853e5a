"""The submit check's rules come from the rendered template: its crowd elements, and the plain form
controls that share their names (which overwrite the element's value, as in AWS's crowd-form)."""

from __future__ import annotations

import json

from human_review.portal import answers

BOX = {"boundingBoxes": [{"label": "person", "left": 1, "top": 2, "width": 3, "height": 4}],
       "inputImageProperties": {"width": 10, "height": 10}}

# the pattern of AWS's images/bounding-box-hierarchical: the box element and a hidden input share a
# throwaway name, and the template's script sends the real answer in another input as JSON text
HIERARCHICAL = """<crowd-form>
  <crowd-bounding-box name="_" src="x.png" labels='["person","hand"]'></crowd-bounding-box>
  <select name="_"><option>person</option></select>
  <input type="hidden" name="_" value="_">
  <input type="hidden" name="instances">
</crowd-form>"""
PLAIN_BOX = """<crowd-form><crowd-bounding-box name="boxes" src="x.png" labels='["person"]'></crowd-bounding-box>
  <input name="comment"></crowd-form>"""


def test_a_name_a_plain_control_shares_is_not_held_to_the_elements_shape():
    elements, schemas = answers.rules(HIERARCHICAL)
    assert "_" not in elements and "_" not in schemas
    content = {"_": "_", "instances": json.dumps([{"id": 1, "parent": None, "label": "person"}])}
    assert answers.check(content, elements, schemas) == []


def test_an_element_of_its_own_is_still_held_to_its_shape():
    elements, schemas = answers.rules(PLAIN_BOX)
    assert elements["boxes"][0] == "crowd-bounding-box" and "boxes" in schemas
    assert answers.check({"boxes": BOX, "comment": "fine"}, elements, schemas) == []
    found = answers.check({"boxes": "_"}, elements, schemas)
    assert found and "boxes" in found[0]
