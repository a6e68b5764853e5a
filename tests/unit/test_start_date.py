"""A new stack fires no empty scheduled run: HUMAN_REVIEW_START_DATE moves the review DAGs' first
interval after the stack's first start (`make up` sets it), so unpausing does not run the latest
nightly interval at once."""

from __future__ import annotations

import datetime as dt

import pytest

from human_review.dag_factory import DEFAULT_START_DATE, start_date


def _first_scheduled_run(start: dt.datetime):
    """What Airflow's scheduler asks the DAG's timetable for its first automated run (catchup off)."""
    from airflow.timetables.base import TimeRestriction

    from human_review.config import find_pipeline
    from human_review.dag_factory import build_dag

    dag = build_dag(find_pipeline("content-moderation"))
    assert dag.catchup is False
    from airflow.serialization.encoders import coerce_to_core_timetable

    timetable = coerce_to_core_timetable(dag.timetable)  # as the scheduler holds it
    return timetable.next_dagrun_info(last_automated_data_interval=None,
                                      restriction=TimeRestriction(earliest=start, latest=None, catchup=False))


def test_start_date_from_environment():
    assert start_date({}) == DEFAULT_START_DATE
    assert start_date({"HUMAN_REVIEW_START_DATE": "2026-11-22T04:05:06Z"}) == dt.datetime(
        2026, 11, 22, 4, 5, 6, tzinfo=dt.timezone.utc)
    # no offset: UTC
    assert start_date({"HUMAN_REVIEW_START_DATE": "2026-11-22T04:05:06"}).utcoffset() == dt.timedelta(0)
    with pytest.raises(ValueError, match="HUMAN_REVIEW_START_DATE='yesterday' is not an ISO 8601"):
        start_date({"HUMAN_REVIEW_START_DATE": "yesterday"})


def test_first_start_fires_no_run_for_the_latest_interval():
    now = dt.datetime.now(dt.timezone.utc)
    # the default start date: the latest nightly interval (already over) runs as soon as the DAG is unpaused
    old = _first_scheduled_run(DEFAULT_START_DATE)
    assert old.run_after <= now
    # started now: the first scheduled run is the next 02:00 UTC, after the stack started
    new = _first_scheduled_run(now)
    assert new.run_after > now
    assert new.run_after - now <= dt.timedelta(hours=48)  # 24 h with a trigger timetable, up to 48 h with a data-interval one
    assert new.run_after.hour == 2 and new.run_after.minute == 0
