"""The one table of crowd elements (portal/elements.py) agrees with the page's script and the docs."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

from human_review.portal import elements  # noqa: E402

STATIC = ROOT / "plugins" / "human_review" / "portal" / "static"


def test_the_script_supports_exactly_the_elements_the_table_marks_supported():
    core = (STATIC / "crowd-html-elements.js").read_text()
    listed = set(json.loads("[" + re.search(r"var SUPPORTED = \[(.*?)\];", core, re.S).group(1) + "]"))
    defined = set()
    for f in STATIC.glob("crowd-*.js"):
        defined |= set(re.findall(r'customElements\.define\("([a-z-]+)"', f.read_text()))
    assert listed == elements.SUPPORTED
    assert defined == elements.SUPPORTED


def test_docs_carry_the_generated_table():
    assert elements.docs_table() in (ROOT / "docs" / "crowd-elements.md").read_text()


def test_expected_parts_names_each_answer_key():
    html = """<crowd-bounding-box name="boxes" src="x"></crowd-bounding-box>
    <crowd-rekognition-detect-moderation-labels categories='[]'></crowd-rekognition-detect-moderation-labels>
    <crowd-input name='comment'></crowd-input><crowd-text-area></crowd-text-area><crowd-alert>x</crowd-alert>"""
    parts = elements.expected_parts(html)
    assert {k: e.tag for k, e in parts.items()} == {
        "boxes": "crowd-bounding-box", elements.MODERATION_KEY: "crowd-rekognition-detect-moderation-labels",
        "comment": "crowd-input", "textArea": "crowd-text-area"}
