"""Issue 10, item 5: a rerun after the wait's deadline gives its new loops the full wait."""

from __future__ import annotations

import datetime as dt
import time

from human_review.records import RouteResult, WaitPlan
from human_review.sensors import WaitForHumanLoopsSensor

DAY = dt.timedelta(days=1)


def sensor(routed, timeout: float = 2 * 86_400) -> WaitForHumanLoopsSensor:
    return WaitForHumanLoopsSensor(task_id="wait", routed=routed, flow_definition_arn="arn", wait_timeout=timeout)


def test_a_rerun_days_later_gives_new_loops_the_full_wait():
    now = dt.datetime.now(dt.timezone.utc)
    old_batch = RouteResult(batch=0, routing="r0", loops=3, loop_prefix="p-", earliest_loop=(now - 5 * DAY).isoformat(),
                            latest_loop=(now - 5 * DAY).isoformat())
    # the rerun found three loops from five days ago and started two new ones just now
    rerun_batch = RouteResult(batch=1, routing="r1", loops=2, started=2, loop_prefix="p-",
                              earliest_loop=(now - 5 * DAY).isoformat(), latest_loop=now.isoformat())
    wait = sensor([old_batch.to_dict(), rerun_batch.to_dict()])
    plan = WaitPlan.from_routes([old_batch, rerun_batch])
    deadline = wait._deadline(plan)
    assert deadline > time.time() + 2 * 86_400 - 60  # not "five days ago + two days": already past
    assert plan.created_after_time < now - 5 * DAY  # the wait still counts the old loops


def test_a_retried_wait_keeps_the_runs_deadline():
    started = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=10)
    batch = RouteResult(batch=0, routing="r", loops=1, loop_prefix="p-", earliest_loop=started.isoformat(),
                        latest_loop=started.isoformat())
    deadline = sensor([batch.to_dict()], timeout=86_400)._deadline(WaitPlan.from_routes([batch]))
    assert abs(deadline - (started.timestamp() + 86_400)) < 1


def test_route_results_written_before_latest_loop_existed_still_work():
    started = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    old = {"batch": 0, "routing": "r", "loops": 1, "loop_prefix": "p-", "earliest_loop": started.isoformat()}
    plan = WaitPlan.from_routes([old])
    assert abs(sensor([old], timeout=3600)._deadline(plan) - (started.timestamp() + 3600)) < 1


def test_on_timeout_fail_writes_the_report_then_fails_the_run(monkeypatch):
    """The wait returns (it used to raise, so the report task never ran); the report task writes the
    report, then fails the run. The report stage itself is replaced: this checks the DAG's glue."""
    import pytest
    from airflow.sdk.exceptions import AirflowFailException

    from human_review import dag_factory
    from human_review.config import find_pipeline
    from human_review.stages import report as report_stage

    written = []
    monkeypatch.setattr(report_stage, "report", lambda run, results, wait: written.append(wait) or
                        {"files": {"html": "s3://b/report.html"}})
    dag = dag_factory.build_dag(find_pipeline("content-moderation"))
    task = dag.get_task("report")

    class Run:
        logical_date = dt.datetime(2026, 11, 21, 2, tzinfo=dt.timezone.utc)
        run_id = "scheduled__2026-11-21T02:00:00+00:00"

    events = {}

    class Outlets(dict):
        def __getitem__(self, asset):
            return events.setdefault(asset, type("E", (), {})())

    context = {"dag_run": Run(), "params": {}, "outlet_events": Outlets()}
    wait = {"status": "timeout", "counts": {"InProgress": 2}, "stopped": 0, "fail_run": True, "on_timeout": "fail"}
    with pytest.raises(AirflowFailException, match="report of what was known is at s3://b/report.html"):
        task.python_callable([], wait, **context)
    assert written == [wait]
    summary = task.python_callable([], {"status": "done", "counts": {}}, **context)
    assert summary == {"files": {"html": "s3://b/report.html"}}
