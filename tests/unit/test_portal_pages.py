"""The portal's own pages escape whatever they are given, except the rendered worker template."""

from __future__ import annotations

import pytest
from liquid import Markup

from human_review.portal.page import render

EVIL = "<script>alert('x')</script>"


def test_values_are_escaped_and_the_worker_template_is_not():
    r = render("task.html", worker="pam", flow_title=EVIL, flow_description=EVIL, loop_name="l-1",
               answer_number=1, task_count=1, deadline="12:00:00 UTC", task_id="t1", url_flow_name="f",
               dropped_scripts=[EVIL], worker_template=Markup("<crowd-form></crowd-form>"),
               load_crowd_elements=True, file_name=EVIL, object_key=EVIL, deadline_iso="2026-11-22T12:00:00+00:00")
    body = r.body.decode()
    assert "<script>alert" not in body
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;: l-1</title>" in body
    assert "not fetch (&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;), so" in body
    assert "HUMAN_REVIEW_PORTAL_SCRIPT_ORIGINS.</p><crowd-form></crowd-form>\n</main>" in body
    assert '<script defer src="../static/crowd-html-elements.js"></script>' in body
    assert r.headers["cache-control"] == "no-store"
    assert '<script defer src="../static/workbench.js"></script>' in body
    assert 'data-file-name="&lt;script&gt;' in body and 'data-deadline="2026-11-22T12:00:00+00:00"' in body


def test_queues_page_lists_queues_or_says_there_are_none():
    body = render("queues.html", worker="pam", can_sign_out=True, empty_queue=None, message=None,
                  queues=[]).body.decode()
    assert '<tr><td colspan="5">No flow definitions.</td></tr>' in body and "Sign out" in body
    queue = {"name": "q", "url_name": "q", "title": "Q", "description": "", "available": 0,
             "in_progress_loops": 2, "tasks": [{"file": EVIL, "run": "2026-11-21T020000Z", "age": "3 h"}],
             "next_work": "the next run of q starts at 2026-11-23 02:00 UTC (in 21 h)"}
    body = render("queues.html", worker="pam", can_sign_out=False, empty_queue="q", message=EVIL,
                  queues=[queue]).body.decode()
    assert '<button disabled>Start working</button>' in body and "Sign out" not in body
    assert '<p class="notice">No more tasks for you in q.</p><p class="notice">&lt;script&gt;' in body
    assert "<td>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</td><td>2026-11-21T020000Z</td><td>3 h</td>" in body
    assert "Nothing to do now: the next run of q starts at 2026-11-23 02:00 UTC (in 21 h)." in body


def test_queue_info_ages_and_next_arrival(project_root):
    import datetime as dt

    from human_review.portal.queue_info import age, next_arrivals

    now = dt.datetime(2026, 11, 22, 4, 30, tzinfo=dt.timezone.utc)
    assert [age(now - dt.timedelta(seconds=s), now) for s in (5, 600, 7200, 200_000)] == ["1 min", "10 min", "2 h", "2 d"]
    arrivals = next_arrivals(project_root / "include" / "pipelines", now)
    assert arrivals["object-detection"].startswith("the next run of object-detection starts at 2026-11-23 02:30 UTC (in 22 h)")
    assert "no-such-queue" not in arrivals


def test_a_page_refuses_to_print_a_value_it_was_not_given():
    with pytest.raises(Exception, match="notice"):
        render("notice.html", title="t")
