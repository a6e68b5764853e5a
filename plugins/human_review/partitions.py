"""Source prefixes templated from the run's data interval, for date-partitioned layouts.

    prefix: incoming/{data_interval_start:%Y-%m-%d}/

A template names `data_interval_start` or `data_interval_end` with a strftime format after the
colon (Python's format syntax). Discover lists the prefix rendered for every hour of the data
interval (every minute when the format uses %M), each distinct result once: a nightly interval
from 02:00 to 02:00 lists yesterday's and today's folders, and nothing older, so its cost grows
with the night's objects, not the prefix's history. LastModified still selects within them.
"""

from __future__ import annotations

import datetime as dt
import string

FIELDS = ("data_interval_start", "data_interval_end")
EXAMPLE = "incoming/{data_interval_start:%Y-%m-%d}/"


def fields(template: str) -> list[tuple[str, str]]:
    """The (field, format) pairs of a template; ValueError naming what is wrong."""
    found = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as e:
        raise ValueError(f"{template!r} is not a valid template ({e}); e.g. {EXAMPLE!r}") from None
    for _text, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in FIELDS:
            raise ValueError(f"unknown field {{{name}}} in {template!r}; use {' or '.join(FIELDS)}, e.g. {EXAMPLE!r}")
        if conversion or not spec or "%" not in spec:
            raise ValueError(f"{{{name}}} in {template!r} needs a strftime format, e.g. {{{name}:%Y-%m-%d}}")
        found.append((name, spec))
    return found


def validate(template: str) -> str:
    fields(template)
    return template


def render(template: str, start: dt.datetime | None, end: dt.datetime | None) -> list[str]:
    """The distinct prefixes the interval [start, end) covers, in time order (the template itself
    when it has no field)."""
    used = fields(template)
    if not used:
        return [template]
    if start is None and end is None:
        raise ValueError(f"prefix {template!r} is templated from the data interval, and this run has none: "
                         "trigger it with an explicit prefix or keys")
    start = start or end
    end = end if end is not None and end > start else start + dt.timedelta(microseconds=1)
    fine = any("%M" in spec or "%S" in spec for _, spec in used)
    step = dt.timedelta(minutes=1) if fine else dt.timedelta(hours=1)
    t = start.replace(second=0, microsecond=0) if fine else start.replace(minute=0, second=0, microsecond=0)
    out: dict[str, None] = {}
    while t < end:
        out[template.format(data_interval_start=max(t, start), data_interval_end=end)] = None
        t += step
    return list(out)


def static_part(template: str) -> str:
    """The prefix up to its first templated field: what every rendering starts with (IAM, checks)."""
    return template.split("{", 1)[0]
