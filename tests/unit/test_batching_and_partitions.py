"""Batches sized from the run, prefixes templated from the data interval, a bucket with no burst."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from human_review.partitions import render, static_part, validate
from human_review.stages.batching import MAX_BATCH, batch_size
from human_review.token_bucket import TokenBucket

UTC = dt.timezone.utc


@pytest.mark.parametrize("images, parallel, expected_batches", [
    (40, 4, 1),          # a small night: one batch, not five task instances of 8
    (200, 4, 4),         # the minimum batch (50) keeps per-task overhead small
    (2_000, 4, 4),       # one batch per parallel slot: every worker busy, no second wave of start-ups
    (10_000, 4, 4),
    (10_000, 16, 16),
    (12_000, 4, 8),      # over MAX_BATCH per slot: two whole waves of 1,500, not four of 2,500 and a straggler
    (100_000, 4, 40),    # capped at MAX_BATCH images per manifest
])
def test_default_batches_are_few_and_keep_workers_busy(images, parallel, expected_batches):
    size = batch_size(images, parallel, limit=1024)
    assert math.ceil(images / size) == expected_batches
    assert size <= MAX_BATCH


def test_batches_never_pass_max_map_length():
    # a fixed batch_size of 8 over 10,000 images would be 1,250 mapped tasks (> 1024): batches grow
    assert math.ceil(10_000 / batch_size(10_000, 4, fixed=8, limit=1024)) <= 1024
    assert math.ceil(5_000_000 / batch_size(5_000_000, 4, limit=1024)) <= 1024
    assert batch_size(100, 4, fixed=8, limit=1024) == 8  # a fixed size that fits is kept


def test_a_templated_prefix_lists_every_date_folder_the_interval_touches():
    # a nightly interval from 02:00 to 02:00 spans two dates: both folders, nothing older
    start, end = dt.datetime(2026, 11, 20, 2, tzinfo=UTC), dt.datetime(2026, 11, 21, 2, tzinfo=UTC)
    assert render("incoming/{data_interval_start:%Y-%m-%d}/", start, end) == ["incoming/2026-11-20/",
                                                                            "incoming/2026-11-21/"]
    assert render("in/{data_interval_start:%Y/%m/%d/%H}/", start, start + dt.timedelta(hours=2)) == [
        "in/2026/11/20/02/", "in/2026/11/20/03/"]
    assert render("incoming/", start, end) == ["incoming/"]
    assert static_part("incoming/{data_interval_start:%Y-%m-%d}/") == "incoming/"


@pytest.mark.parametrize("template, words", [
    ("incoming/{ds}/", "unknown field {ds}"),
    ("incoming/{data_interval_start}/", "needs a strftime format"),
    ("incoming/{data_interval_start:%Y/", "not a valid template"),
])
def test_a_bad_template_is_refused_with_what_to_write(template, words):
    with pytest.raises(ValueError, match="e.g.") as e:
        validate(template)
    assert words in str(e.value)


def test_a_bad_template_fails_the_config_naming_the_field(tmp_path):
    import yaml

    from human_review.config import PROJECT_ROOT, load_pipeline
    from human_review.exceptions import PipelineConfigError

    doc = yaml.safe_load((PROJECT_ROOT / "include" / "pipelines" / "object_detection.yaml").read_text())
    doc["source"]["prefix"] = "incoming/{ds}/"
    path = tmp_path / "object_detection.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(PipelineConfigError, match=r"source\.prefix: unknown field \{ds\}"):
        load_pipeline(path)


def test_a_bucket_that_starts_empty_never_bursts():
    now = [0.0]
    bucket = TokenBucket(10, burst=1, clock=lambda: now[0], start_full=False)
    assert not bucket.try_acquire()  # nothing at t=0: several tasks starting together add no burst
    now[0] = 0.1
    assert bucket.try_acquire() and not bucket.try_acquire()
    full = TokenBucket(10, burst=5, clock=lambda: now[0])
    assert sum(full.try_acquire() for _ in range(10)) == 5  # the server side keeps its burst
