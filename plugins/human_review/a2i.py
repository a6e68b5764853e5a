"""Facts about the A2I runtime that cost nothing to import (DAG files import this at parse time)."""

from __future__ import annotations

from typing import Any, Iterable

TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Stopped"})
# A2I publishes no TPS: expect 429s and let botocore back off and retry them.
DEFAULT_CLIENT_CONFIG: dict[str, Any] = {"retries": {"mode": "standard", "max_attempts": 10}}
# Errors StopHumanLoop gives for a loop that finished or vanished in the meantime.
STOP_RACE_ERRORS = frozenset({"ValidationException", "ResourceNotFoundException"})


# where a Rekognition moderation task puts its answer in answerContent (AWS's docs use both spellings)
MODERATION_ANSWER_KEY = "AWS/Rekognition/DetectModerationLabels/Image/V3"
MODERATION_ANSWER_KEYS = (MODERATION_ANSWER_KEY, MODERATION_ANSWER_KEY.lower())


def finished(counts: dict[str, int]) -> int:
    """How many of the counted loops are Completed, Failed or Stopped."""
    return sum(n for status, n in counts.items() if status in TERMINAL_STATUSES)


def count_statuses(summaries: Iterable[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in summaries:
        counts[s["HumanLoopStatus"]] = counts.get(s["HumanLoopStatus"], 0) + 1
    return counts
