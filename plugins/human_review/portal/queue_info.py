"""What the queues page says about each queue: its open tasks (file, pipeline run, age) and, when
it is empty, when work will arrive (the next scheduled run of the pipelines that feed it)."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def age(since: dt.datetime, now: dt.datetime) -> str:
    """'5 min', '3 h', '2 d': how long a task has waited."""
    seconds = max(0, int((now - since).total_seconds()))
    if seconds < 3600:
        return f"{max(1, seconds // 60)} min"
    if seconds < 86_400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86_400} d"


def open_tasks(store, flow_definition_name: str, now: dt.datetime, limit: int = 20) -> list[dict[str, Any]]:
    """The flow definition's open loops, oldest first: file name, pipeline run and age."""
    loops, _ = store.list_loops(flow_definition_name, limit=200)
    out = []
    for loop in sorted((l for l in loops if l.status == "InProgress"), key=lambda l: l.created_at)[:limit]:
        try:
            doc = loop.input if isinstance(loop.input, dict) else {}
        except ValueError:
            doc = {}
        key = str(doc.get("objectKey") or doc.get("taskObject") or loop.name)
        out.append({"file": str(doc.get("fileName") or key.rsplit("/", 1)[-1]),
                    "run": str(doc.get("runKey") or doc.get("pipeline") or "–"),
                    "age": age(loop.created_at, now)})
    return out


def next_arrivals(pipelines_dir: Path | None, now: dt.datetime) -> dict[str, str]:
    """Per queue (flow definition name): when the next scheduled run of a pipeline feeding it starts
    (UTC), in words. The pipeline files are read once per page, however many queues it shows."""
    from croniter import croniter

    from human_review.config import load_all

    try:
        configs, _ = load_all(pipelines_dir)
    except Exception as e:  # noqa: BLE001  the page must show even if the pipelines cannot be read
        log.warning("queues: cannot read the pipelines: %s", e)
        return {}
    soonest: dict[str, tuple[dt.datetime, str]] = {}
    for c in configs:
        if not c.schedule:
            continue
        try:
            import zoneinfo

            local = now.astimezone(zoneinfo.ZoneInfo(c.timezone))
            when = croniter(c.schedule, local).get_next(dt.datetime).astimezone(dt.timezone.utc)
        except Exception:  # noqa: BLE001  an odd schedule costs only this sentence
            continue
        name = c.review.flow_definition.name
        if name not in soonest or (when, c.pipeline) < soonest[name]:
            soonest[name] = (when, c.pipeline)
    return {name: (f"the next run of {pipeline} starts at {when:%Y-%m-%d %H:%M} UTC (in {age(now, when)}); "
                   "its flagged images arrive here shortly after")
            for name, (when, pipeline) in soonest.items()}
