"""What a pipeline's schedule means for its data intervals, checked before a DAG is built.

A run reviews the images that arrived in its data interval. Unless `interval_hours` is set, the
interval is the time between two consecutive schedule points (Airflow's CronDataIntervalTimetable):
an hourly cron reviews an hour, a weekly one a week, a weekday cron Friday to Monday on Mondays.
An explicit `interval_hours` must equal that time: shorter leaves images between runs that no run
reviews, longer reviews images twice (two loops for one image). A cron that never fires (the 30th
of February) is refused, as is a timezone Airflow cannot load.

This module imports croniter and the standard library only (DAG parsing and `validate` use it).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PRESETS = {
    "@hourly": "0 * * * *", "@daily": "0 0 * * *", "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@midnight": "0 0 * * *",
}
_SAMPLE = 400  # schedule points looked at: a year of daily runs, two weeks of hourly ones


def check_timezone(name: str) -> None:
    """Raise ValueError unless `name` is an IANA timezone (e.g. 'Europe/London')."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA timezone (e.g. 'UTC', 'Europe/London', 'America/New_York')") from None


def _points(expression: str, count: int = _SAMPLE) -> list[dt.datetime]:
    """The next `count` schedule points in wall-clock time from a fixed start (naive: DST shifts are
    the timetable's business, not a gap)."""
    from croniter import croniter

    it = croniter(PRESETS.get(expression, expression), dt.datetime(2026, 1, 1))
    return [it.get_next(dt.datetime) for _ in range(count)]


def check_cron(expression: str) -> None:
    """Raise ValueError unless the expression is a cron that fires."""
    from croniter import CroniterBadDateError, croniter

    cron = PRESETS.get(expression, expression)
    if not croniter.is_valid(cron):
        raise ValueError(f"{expression!r} is not a cron expression (e.g. '0 2 * * *')")
    try:
        _points(cron, 2)
    except CroniterBadDateError:
        raise ValueError(f"{expression!r} never fires (no such date, e.g. 30 February); "
                         "the pipeline would never run") from None


def intervals(expression: str) -> list[dt.timedelta]:
    """The distinct times between consecutive schedule points, shortest first."""
    points = _points(expression)
    return sorted({b - a for a, b in zip(points, points[1:])})


def _hours(delta: dt.timedelta) -> str:
    h = delta.total_seconds() / 3600
    return f"{h:g} h"


def check_interval(expression: str, interval_hours: int, timezone: str = "UTC") -> None:
    """Raise ValueError when an explicit interval leaves gaps between runs or overlaps them."""
    gaps = intervals(expression)
    interval = dt.timedelta(hours=interval_hours)
    if len(gaps) > 1:
        raise ValueError(
            f"{expression!r} fires at uneven times ({', '.join(_hours(g) for g in gaps)} apart), so a fixed "
            f"{interval_hours} h interval leaves gaps or overlaps; remove interval_hours to review from each "
            "run to the next")
    period = gaps[0]
    if interval < period:
        raise ValueError(
            f"{interval_hours} h is shorter than the {_hours(period)} between runs of {expression!r}: "
            f"images arriving in the other {_hours(period - interval)} would never be reviewed; "
            "remove interval_hours to derive it from the schedule")
    if interval > period:
        raise ValueError(
            f"{interval_hours} h is longer than the {_hours(period)} between runs of {expression!r}: "
            f"consecutive runs would review the same {_hours(interval - period)} of images twice (two loops "
            "per image); remove interval_hours to derive it from the schedule")


def covered_start(start: dt.datetime, previous_end: dt.datetime | None, max_hours: int) -> dt.datetime:
    """Where a run's listing starts: its own interval's start, or, when the previous successful run
    ended earlier (the scheduler was down, runs failed), that run's end, at most `max_hours` back."""
    if previous_end is None or max_hours <= 0 or previous_end >= start:
        return start
    return max(previous_end, start - dt.timedelta(hours=max_hours))
