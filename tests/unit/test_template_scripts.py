"""Worker templates that load third-party scripts (AWS's image-grouping sample loads lodash, jQuery
and draggable from a CDN): removed by default with a visible notice, kept for allowed origins."""

from __future__ import annotations

from human_review.portal.render import strip_external_scripts
from human_review.portal.settings import PortalSettings
from human_review.portal.page import render

TEMPLATE = """<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<script src="https://cdnjs.cloudflare.com/ajax/libs/lodash.js/4.17.20/lodash.min.js"></script>
<script src='https://cdn.example.org/tracker.js'></script>
<crowd-form><crowd-input name="x"></crowd-input></crowd-form>"""


def test_offline_by_default_every_external_script_but_crowd_elements_is_dropped_and_named():
    page, dropped = strip_external_scripts(TEMPLATE, "../static/crowd-html-elements.js")
    assert '<script defer src="../static/crowd-html-elements.js"></script>' in page
    assert "assets.crowd.aws" not in page and "cdnjs" not in page and "cdn.example.org" not in page
    assert dropped == ["https://cdnjs.cloudflare.com/ajax/libs/lodash.js/4.17.20/lodash.min.js",
                       "https://cdn.example.org/tracker.js"]


def test_allowed_origins_keep_their_scripts_and_enter_the_csp(monkeypatch):
    page, dropped = strip_external_scripts(TEMPLATE, "../static/crowd-html-elements.js",
                                           ("https://cdnjs.cloudflare.com/",))
    assert "https://cdnjs.cloudflare.com/ajax/libs/lodash.js/4.17.20/lodash.min.js" in page
    assert dropped == ["https://cdn.example.org/tracker.js"]
    csp = render("notice.html", title="t", notice="x",
                 script_origins=("https://cdnjs.cloudflare.com",)).headers["content-security-policy"]
    assert "script-src 'self' https://cdnjs.cloudflare.com" in csp.replace(";", " ")
    csp = render("notice.html", title="t", notice="x").headers["content-security-policy"]
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]  # issue 12: nonces instead
    monkeypatch.setenv("HUMAN_REVIEW_PORTAL_SCRIPT_ORIGINS", "https://cdnjs.cloudflare.com, https://cdn.jsdelivr.net")
    assert PortalSettings.from_env().script_origins == ("https://cdnjs.cloudflare.com", "https://cdn.jsdelivr.net")
