"""Worker templates render as A2I renders them, the image proxy serves what the rendered page
references, and an error nobody anticipated reaches boto3 as InternalServerException."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import sys
import uuid
from pathlib import Path

import httpx
import pytest
import yaml
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

from human_review import config  # noqa: E402
from human_review.portal.page import csp  # noqa: E402
from human_review.portal.render import TemplateRenderError, parse_s3_object, render, render_template  # noqa: E402
from human_review_dev.stack import local_stack  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("worker_templates")]

CAPTURED = """{% capture url %}http://s3.amazonaws.com/{{ task.input.bucket }}/{{ task.input.key }}{% endcapture %}
<img src="{{ url | grant_read_access }}">"""
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")



# ---- rendering ---------------------------------------------------------------------------------


def test_arrays_and_objects_print_as_json_escaped_for_an_attribute():
    html = render('<x labels="{{ task.input.labels }}" initial-value="{{ task.input.boxes }}">{{ task.input.n }}</x>',
                  {"labels": ["cat", "dog"], "boxes": [{"label": "cat", "left": 1}], "n": 3}).html
    labels = re.search(r'labels="([^"]*)"', html).group(1)
    boxes = re.search(r'initial-value="([^"]*)"', html).group(1)
    import html as htmllib

    assert json.loads(htmllib.unescape(labels)) == ["cat", "dog"]
    assert json.loads(htmllib.unescape(boxes)) == [{"label": "cat", "left": 1}]
    assert html.endswith(">3</x>")


def test_undefined_renders_empty_and_is_listed_strict_raises():
    result = render("[{{ task.input.gone }}|{{ task.input.a.b }}|{% if task.input.opt %}x{% endif %}]", {})
    assert result.html == "[||]"
    assert result.undefined == ["task.input.gone", "task.input.a"]
    with pytest.raises(TemplateRenderError, match="task.input.gone"):
        render_template("{{ task.input.gone }}", {})


def test_skip_autoescape_and_skip_encoding_print_raw_html():
    assert render("{{ task.input.h | skip_autoescape }}|{{ task.input.h }}", {"h": "<b>x</b>"}).html == \
        "<b>x</b>|&lt;b&gt;x&lt;/b&gt;"


@pytest.mark.parametrize("url,expected", [
    ("s3://bucket/a/b.png", ("bucket", "a/b.png")),
    ("http://s3.amazonaws.com/bucket/a/b.png", ("bucket", "a/b.png")),
    ("https://s3.us-west-2.amazonaws.com/bucket/a%20b.png", ("bucket", "a b.png")),
    ("https://s3-eu-west-1.amazonaws.com/bucket/k", ("bucket", "k")),
    ("https://bucket.s3.amazonaws.com/a/b.png", ("bucket", "a/b.png")),
    ("http://my.bucket.s3.eu-central-1.amazonaws.com/k.jpg", ("my.bucket", "k.jpg")),
    ("https://example.com/bucket/k", None),
    ("s3://bucket/", None),
    ("https://s3.amazonaws.com/bucket", None),
])
def test_grant_read_access_accepts_s3_uris_and_s3_urls(url, expected):
    assert parse_s3_object(url) == expected


def test_captured_http_url_is_granted_and_recorded():
    result = render(CAPTURED, {"bucket": "b", "key": "photos/1.png"}, image_url=lambda uri: f"/img?{uri}")
    assert 'src="/img?s3://b/photos/1.png"' in result.html
    assert result.objects == [("b", "photos/1.png")]
    with pytest.raises(TemplateRenderError, match="not an S3 object"):
        render('{{ "https://example.com/x.png" | grant_read_access }}', {})


def test_csp_allows_configured_image_origins():
    policy = csp((), ("https://images.example.com",))
    assert "img-src 'self' https://images.example.com data: blob:" in policy
    assert "img-src 'self' data: blob:" in csp()


# ---- the service ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    d = tmp_path_factory.mktemp("pipelines")
    tpl = tmp_path_factory.mktemp("templates") / "captured.liquid.html"
    tpl.write_text(CAPTURED)
    raw = yaml.safe_load((config.PIPELINES_DIR / "content_moderation.yaml").read_text())
    raw["pipeline"] = "captured"
    raw["review"]["flow_definition"].pop("arn", None)
    raw["review"]["flow_definition"].update(name="captured", template=str(tpl))
    (d / "captured.yaml").write_text(yaml.safe_dump(raw))
    with local_stack(tmp_path_factory.mktemp("stack"), pipelines_dir=d) as s:
        yield s


def _start(stack, doc) -> str:
    name = f"tpl-{uuid.uuid4().hex[:10]}"
    stack.a2i_client().start_human_loop(
        HumanLoopName=name, FlowDefinitionArn="arn:aws:sagemaker:us-east-1:000000000000:flow-definition/captured",
        HumanLoopInput={"InputContent": json.dumps(doc)})
    return name


def test_image_proxy_serves_an_image_the_template_assembled_and_nothing_else(stack):
    # a real PNG under the pipelines' source prefix: the proxy serves nothing else (issue 12)
    one = PNG + b"one"
    s3 = stack.s3_client()
    s3.put_object(Bucket=stack.bucket, Key="incoming/cap/one.png", Body=one, ContentType="image/png")
    s3.put_object(Bucket=stack.bucket, Key="incoming/cap/other.png", Body=PNG + b"other", ContentType="image/png")
    # The input names the object only in pieces: no s3:// URI anywhere in it.
    _start(stack, {"bucket": stack.bucket, "key": "incoming/cap/one.png"})
    service = stack.review_server._server.config.app.state.review_service
    from human_review.portal.tokens import image_token

    with httpx.Client(base_url=stack.review_url, headers={"X-Worker-Id": "cap"}) as cap, \
            httpx.Client(base_url=stack.review_url, headers={"X-Worker-Id": "other"}) as other:
        task = cap.post("/worker/api/queues/captured/claim").json()
        page = cap.get(task["taskUrl"])
        assert page.status_code == 200
        src = re.search(r'src="\.\./images\?token=([^"]+)"', page.text).group(1).replace("&amp;", "&")
        assert cap.get("/worker/images", params={"token": src}).content == one
        assert other.get("/worker/images", params={"token": src}).status_code == 403
        forged = image_token(service.secret, f"s3://{stack.bucket}/incoming/cap/other.png", 60, worker_id="cap",
                             task_id=task["taskId"])
        assert cap.get("/worker/images", params={"token": forged}).status_code == 403
        cap.post(f"/worker/api/tasks/{task['taskId']}/submit", json={"answerContent": {}})
        assert cap.get("/worker/images", params={"token": src}).status_code == 403


def test_an_unanticipated_error_is_internal_server_exception(tmp_path):
    with local_stack(tmp_path, pipelines_dir=config.PIPELINES_DIR) as s:
        a2i = s.a2i_client()
        # A real fault under the running service: its database loses a table.
        db = s.settings.database_url.removeprefix("sqlite:///")
        with sqlite3.connect(db) as conn:
            conn.execute("DROP TABLE human_loops")
        with pytest.raises(ClientError) as e:
            a2i.describe_human_loop(HumanLoopName="any-loop")
        err = e.value.response
        assert err["Error"]["Code"] == "InternalServerException"
        assert err["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert isinstance(e.value, a2i.exceptions.InternalServerException)

