"""How many images a batch holds: sized from the run, so a night of 40 images and a night of
100,000 both run as few task instances as keep every worker busy.

Each batch is one mapped infer and one mapped route task instance, and each costs about half a
second of CPU before it does any work (the task process, imports, AWS clients, Airflow's calls
for it); too few batches leave workers idle. The default fills whole waves: as few batches of at
most MAX_BATCH images as there can be, rounded up to a multiple of the parallel slots, all the
same size. Batches of one run are alike (one model over one kind of images), so the slots finish
together, and a second wave would only pay the start-ups again: at 10,000 images over 4 slots,
11 task instances instead of 19 (route waits for a free slot either way, so no wall time is
lost; README, Performance). Never
smaller than MIN_BATCH images (overhead would dominate) nor larger than MAX_BATCH (a manifest stays
far under 1 MB, a task's memory small, a retried batch redoes at most that much), and never more
batches than Airflow's `core.max_map_length` allows.
"""

from __future__ import annotations

import math

MIN_BATCH = 50
MAX_BATCH = 2_500  # a manifest item is ~120 bytes of JSON: ~300 KB per manifest
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
        slots = max(1, parallel)
        batches = math.ceil(max(1, math.ceil(images / MAX_BATCH)) / slots) * slots  # whole waves
        size = max(MIN_BATCH, math.ceil(images / batches))
    return max(size, math.ceil(images / limit), 1)
