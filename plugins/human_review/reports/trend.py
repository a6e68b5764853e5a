"""Trend: the headline numbers of the pipeline's earlier runs (the report stage reads their summary.json)."""

from __future__ import annotations

from typing import Any, Iterable

from human_review.reports.metrics import headline


def earlier_headlines(summaries: Iterable[dict[str, Any]], keep: int = 14) -> list[dict[str, Any]]:
    """Headlines of up to `keep` runs (by generation time), oldest first; dry runs left out."""
    found = sorted(summaries, key=lambda s: (s.get("generated_at") or "", s.get("run_key") or ""))
    return [headline(s) for s in found if not s.get("dry_run")][-keep:]
