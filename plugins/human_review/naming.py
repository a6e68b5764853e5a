"""Deterministic names: the same pipeline, run and object always give the same loop name.

A2I loop names are unique per account and region, 1-63 characters, `^[a-z0-9](-*[a-z0-9])*$`.
Names derive from the pipeline, the run's logical date (its run id when it has none) and the
object key, so retrying a task, clearing it or re-running the DAG run finds the loop it started
instead of starting a second one. All loops of one run share a prefix, which is how the wait
step recognises them in ListHumanLoops.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

LOOP_NAME = re.compile(r"^[a-z0-9](-*[a-z0-9])*$")


def run_key(logical_date: dt.datetime | None, run_id: str) -> str:
    """A readable, path-safe identifier of a run: its logical date, else its run id."""
    if logical_date is not None:
        return logical_date.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", run_id).strip("-")


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def loop_prefix(pipeline: str, run: str) -> str:
    """The prefix every loop name of one run starts with."""
    return f"{pipeline[:24].rstrip('-')}-{_digest(f'{pipeline}|{run}', 10)}-"


def loop_name(pipeline: str, run: str, object_key: str) -> str:
    name = loop_prefix(pipeline, run) + _digest(object_key, 20)
    assert len(name) <= 63 and LOOP_NAME.match(name), name
    return name
