"""The task page of a template that loads a CDN script: the reviewer is told what was removed."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import yaml

import human_review.config as config

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("template-scripts")]


@pytest.mark.parametrize("origins, removed", [((), True), (("https://cdnjs.cloudflare.com",), False)])
def test_task_page_names_removed_scripts(tmp_path, origins, removed):
    from human_review_dev.stack import local_stack

    raw = yaml.safe_load((config.PIPELINES_DIR / "content_moderation.yaml").read_text())
    raw["pipeline"] = "cdn-scripts"
    raw["review"]["flow_definition"].pop("arn", None)
    raw["review"]["flow_definition"].update(name="cdn-scripts",
                                            template=str(Path("..") / ".." / "tests" / "templates" / "cdn_scripts.liquid.html"))
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "cdn_scripts.yaml").write_text(yaml.safe_dump(raw))
    with local_stack(tmp_path / "stack", pipelines_dir=pipelines, script_origins=origins) as stack:
        stack.a2i_client().start_human_loop(
            HumanLoopName="cdn-1", FlowDefinitionArn="arn:aws:sagemaker:us-east-1:000000000000:flow-definition/cdn-scripts",
            HumanLoopInput={"InputContent": json.dumps({"taskObject": f"s3://{stack.bucket}/incoming/a.png"})})
        with httpx.Client(base_url=f"{stack.review_url}/worker", headers={"X-Worker-Id": "pam"}) as pam:
            task = pam.post("/api/queues/cdn-scripts/claim").json()
            page = pam.get(httpx.URL(f"{stack.review_url}/worker/").join(task["taskUrl"]))
    assert page.status_code == 200
    notice = "This template loads scripts the local review service does not fetch"
    lodash = "https://cdnjs.cloudflare.com/ajax/libs/lodash.js/4.17.20/lodash.min.js"
    if removed:
        assert notice in page.text and lodash in page.text.split(notice, 1)[1].split("</p>", 1)[0]
        assert f'src="{lodash}"' not in page.text
        assert "cdnjs" not in page.headers["content-security-policy"]
    else:
        assert notice not in page.text and f'src="{lodash}"' in page.text
        assert "https://cdnjs.cloudflare.com" in page.headers["content-security-policy"]
    assert "assets.crowd.aws" not in page.text  # crowd-html-elements are always the local ones
