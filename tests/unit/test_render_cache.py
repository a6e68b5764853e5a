"""The image proxy and the submit check share one render per template version and task input."""

from __future__ import annotations

import os

from human_review.portal.render import render_task_file


def test_one_render_per_file_version_and_input(tmp_path):
    tpl = tmp_path / "t.liquid.html"
    tpl.write_text('<img src="{{ task.input.taskObject | grant_read_access }}">')
    a = {"taskObject": "s3://b/incoming/a.png"}
    first = render_task_file(tpl, a)
    assert first.objects == [("b", "incoming/a.png")]
    assert render_task_file(tpl, dict(a)) is first  # the same input: no second render
    assert render_task_file(tpl, {"taskObject": "s3://b/incoming/b.png"}).objects == [("b", "incoming/b.png")]
    # an edited template is rendered again (its modification time is part of the key)
    tpl.write_text('<img src="{{ task.input.other | grant_read_access }}">')
    st = tpl.stat()
    os.utime(tpl, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert render_task_file(tpl, {**a, "other": "s3://b/incoming/c.png"}).objects == [("b", "incoming/c.png")]
    assert render_task_file(tpl, a).objects == []
