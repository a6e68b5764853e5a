"""Trend: the headline numbers of the pipeline's earlier runs, read from their summary.json files."""

from __future__ import annotations

import logging
from typing import Any

from human_review import storage
from human_review.reports.metrics import headline

log = logging.getLogger(__name__)


def list_summaries(report_prefix: str, pipeline: str, conn_id: str | None) -> list[str]:
    """URIs of `<report prefix>/<pipeline>/*/summary.json`, in run-key order."""
    root = storage.path(storage.join(report_prefix, pipeline), conn_id)
    try:
        if root.protocol == "s3":
            root.fs.invalidate_cache(root.path)
        runs = [p for p in root.iterdir() if p.is_dir()]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(storage.join(report_prefix, pipeline, p.name, "summary.json") for p in runs)


def earlier_runs(report_prefix: str, pipeline: str, run_key: str, conn_id: str | None,
                 keep: int = 14) -> list[dict[str, Any]]:
    """Headlines of up to `keep` runs before this one (by generation time), oldest first."""
    candidates = [u for u in list_summaries(report_prefix, pipeline, conn_id)
                  if u.rsplit("/", 2)[-2] != run_key][-(keep * 2):]
    found = []
    for uri in candidates:
        try:
            found.append(storage.read_json(uri, conn_id))
        except (FileNotFoundError, ValueError) as e:  # a run still writing, or a foreign folder
            log.info("trend: skipping %s (%s)", uri, e)
    found.sort(key=lambda s: (s.get("generated_at") or "", s.get("run_key") or ""))
    return [headline(s) for s in found if not s.get("dry_run")][-keep:]
