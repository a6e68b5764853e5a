"""Attack: stored XSS on the portal's origin through the image proxy.

A valid PNG with a script appended, uploaded into the source prefix as ``text/html``, is referenced by
a task; the reviewer opens the image in its own tab. Before: the proxy streamed it as text/html with
no CSP, nosniff or disposition, and the script ran with the reviewer's session. After: the type comes
from the bytes (image/png), with nosniff, a sandboxing CSP and inline disposition; HTML and SVG that
are not images are refused (415). The task page's CSP has no 'unsafe-inline' scripts."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from .conftest import EMPTY, PASSWORDS, moderation_doc

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("security_portal"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="browser tests need Debian's Chromium at /usr/bin/chromium"),
]

PAYLOAD = b"<html><body><script>window.pwned = 1; document.title = 'pwned';</script></body></html>"


def _open_task(page, portal, loop: str) -> str:
    page.goto(f"{portal.url}/worker/")
    page.fill("input[name=worker_id]", "alice")
    page.fill("input[name=password]", PASSWORDS["alice"])
    page.click("button[type=submit]")
    page.wait_for_selector("text=Queues")
    while True:  # claim until this loop's task is the one shown (other tests' loops may be queued)
        page.click("form[action='queues/content-moderation/next'] button")
        page.wait_for_url("**/worker/tasks/**")
        if loop in page.content():
            break
        # an older task (another test's) comes first: answer it to get past it
        task_id = page.url.rsplit("/", 1)[-1]
        r = page.request.post(f"{portal.url}/worker/api/tasks/{task_id}/submit",
                              data={"answerContent": EMPTY["content-moderation"]})
        assert r.status == 200, r.text()
        page.goto(f"{portal.url}/worker/")
    src = page.get_attribute("crowd-rekognition-detect-moderation-labels", "src") or \
        re.search(r'\.\./images\?token=[^"\'&<>\s]+', page.content()).group(0)
    return src


def test_a_png_polyglot_uploaded_as_html_does_not_run_in_its_own_tab(portal, browser):
    from human_review_dev.samples import sample_photos

    png = sample_photos()["astronaut.png"] + PAYLOAD
    key = "incoming/polyglot/astronaut.png"
    portal.stack.s3_client().put_object(Bucket=portal.bucket, Key=key, Body=png, ContentType="text/html")
    loop = portal.start("content-moderation", moderation_doc(f"s3://{portal.bucket}/{key}"))
    context = browser.new_context()
    page = context.new_page()
    src = _open_task(page, portal, loop)
    image_url = httpx.URL(page.url).join(src)
    tab = context.new_page()
    response = tab.goto(str(image_url))
    headers = response.headers
    assert headers["content-type"] == "image/png", headers
    assert headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in headers["content-security-policy"] and "default-src 'none'" in headers["content-security-policy"]
    assert headers["content-disposition"].startswith("inline")
    assert tab.evaluate("window.pwned") is None
    assert tab.title() != "pwned"
    assert tab.evaluate("document.contentType") == "image/png"
    context.close()


def test_html_and_svg_are_never_served(portal, browser):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>window.pwned=1</script></svg>'
    for key, body, ctype in (("incoming/polyglot/page.png", PAYLOAD, "text/html"),
                             ("incoming/polyglot/vector.png", svg, "image/svg+xml")):
        portal.stack.s3_client().put_object(Bucket=portal.bucket, Key=key, Body=body, ContentType=ctype)
        loop = portal.start("content-moderation", moderation_doc(f"s3://{portal.bucket}/{key}"))
        context = browser.new_context()
        page = context.new_page()
        src = _open_task(page, portal, loop)
        tab = context.new_page()
        response = tab.goto(str(httpx.URL(page.url).join(src)))
        assert response.status == 415, (key, response.status)
        assert "json" in response.headers["content-type"]
        assert tab.evaluate("window.pwned") is None
        context.close()


def test_the_task_page_runs_no_inline_script_without_its_nonce(portal, browser):
    key = "incoming/polyglot/plain.png"
    from human_review_dev.samples import sample_photos

    portal.stack.s3_client().put_object(Bucket=portal.bucket, Key=key, Body=sample_photos()["astronaut.png"],
                                        ContentType="image/png")
    loop = portal.start("content-moderation", moderation_doc(f"s3://{portal.bucket}/{key}"))
    context = browser.new_context()
    page = context.new_page()
    response_csp: list[str] = []
    page.on("response", lambda r: response_csp.append(r.headers.get("content-security-policy", ""))
            if "/worker/tasks/" in r.url else None)
    _open_task(page, portal, loop)
    csp = response_csp[-1]
    assert "script-src 'self' 'nonce-" in csp and "'unsafe-inline'" not in csp.split("style-src")[0], csp
    # a script injected after the fact (what an XSS would add) does not run
    page.evaluate("""() => { const s = document.createElement('script'); s.textContent = 'window.injected = 1';
                      document.body.appendChild(s); }""")
    assert page.evaluate("window.injected") is None
    context.close()
