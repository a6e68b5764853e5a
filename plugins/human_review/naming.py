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
    """A readable, path-safe identifier of a run, unique per DAG run: its logical date (unique per DAG
    in Airflow), else `id-<its run id>-<8 hex of the run id>`. The prefix and the digest keep a run
    id chosen by hand (say "2026-11-20T020000Z") from landing on a dated run's report, and two run
    ids that clean up to the same text from landing on each other's."""
    if logical_date is not None:
        return logical_date.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
    clean = re.sub(r"[^A-Za-z0-9_.-]+", "-", run_id).strip("-.")[:80]
    return f"id-{clean}-{_digest(run_id, 8)}"


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def loop_prefix(pipeline: str, run: str) -> str:
    """The prefix every loop name of one run starts with."""
    return f"{pipeline[:24].rstrip('-')}-{_digest(f'{pipeline}|{run}', 10)}-"


def loop_name(pipeline: str, run: str, object_key: str) -> str:
    name = loop_prefix(pipeline, run) + _digest(object_key, 20)
    assert len(name) <= 63 and LOOP_NAME.match(name), name
    return name
