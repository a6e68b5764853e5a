"""How many images a batch holds: sized from the run, so a night of 40 images and a night of
100,000 both run as few task instances as keep every worker busy.

Each batch is one mapped infer and one mapped route task instance, and each costs a few hundred
milliseconds of Airflow overhead; too few batches leave workers idle. The default aims at
TASKS_PER_WORKER batches per parallel slot, never smaller than MIN_BATCH images (overhead would
dominate) nor larger than MAX_BATCH (a manifest stays far under 1 MB, a task's memory small),
and never more batches than Airflow's `core.max_map_length` allows.
"""

from __future__ import annotations

import math

MIN_BATCH = 50
MAX_BATCH = 2_000  # a manifest item is ~150 bytes of JSON: ~300 KB per manifest
TASKS_PER_WORKER = 2
DEFAULT_MAX_MAP_LENGTH = 1024


def max_map_length() -> int:
    """Airflow's `[core] max_map_length`: a mapped task over more items fails the task that pushed them."""
    try:
        from airflow.configuration import conf

        return conf.getint("core", "max_map_length", fallback=DEFAULT_MAX_MAP_LENGTH)
    except Exception:  # outside an Airflow install (a bench, a unit test): Airflow's default
        return DEFAULT_MAX_MAP_LENGTH


def batch_size(images: int, parallel: int, fixed: int | None = None, limit: int | None = None) -> int:
    """Images per batch for a run of `images` (overflow past max_items included).

    `fixed` (the pipeline's `batch_size`) wins, except that the batch count never passes
    `limit` (max_map_length): then batches grow until it fits."""
    limit = limit or max_map_length()
    if fixed:
        size = fixed
    else:
        size = min(MAX_BATCH, max(MIN_BATCH, math.ceil(images / (max(1, parallel) * TASKS_PER_WORKER))))
    return max(size, math.ceil(images / limit), 1)
