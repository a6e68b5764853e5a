"""Loop names are deterministic and valid; image validation gives reasons a person can act on."""

from __future__ import annotations

import datetime as dt

import pytest

from human_review.exceptions import InvalidImageError
from human_review.images import decode, sniff
from human_review.naming import LOOP_NAME, loop_name, loop_prefix, run_key
from human_review_dev.samples import broken_files, sample_photos


def test_loop_names_are_stable_valid_and_share_the_run_prefix():
    run = run_key(dt.datetime(2026, 11, 20, 2, tzinfo=dt.timezone.utc), "scheduled__x")
    assert run == "2026-11-20T020000Z"
    names = {loop_name("content-moderation", run, f"incoming/{i}.jpg") for i in range(1000)}
    assert len(names) == 1000
    for name in names:
        assert 1 <= len(name) <= 63 and LOOP_NAME.match(name)
        assert name.startswith(loop_prefix("content-moderation", run))
    assert loop_name("content-moderation", run, "a.jpg") == loop_name("content-moderation", run, "a.jpg")
    assert loop_name("content-moderation", run, "a.jpg") != loop_name("object-detection", run, "a.jpg")
    other = run_key(dt.datetime(2026, 11, 21, 2, tzinfo=dt.timezone.utc), "scheduled__y")
    assert loop_name("content-moderation", run, "a.jpg") != loop_name("content-moderation", other, "a.jpg")
    long = "a" * 40
    assert LOOP_NAME.match(loop_name(long, run_key(None, "manual__2026-11-21T05:00:00+00:00"), "k"))


def test_real_photos_decode():
    for name, data in sample_photos().items():
        img = decode(name, data)
        assert img.width > 0 and img.height > 0 and img.format in ("JPEG", "PNG")


@pytest.mark.parametrize("name, words", [
    ("truncated.jpg", "corrupt or truncated JPEG"),
    ("empty.png", "empty file"),
    ("not-an-image.jpg", "not an image"),
])
def test_broken_files_have_reasons(name, words):
    data, _ = broken_files()[name]
    with pytest.raises(InvalidImageError, match=words):
        decode(name, data)


def test_sniff():
    assert sniff(b"\x89PNG\r\n\x1a\n....") == "PNG"
    assert sniff(b"\xff\xd8\xff\xe0") == "JPEG"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "WEBP"
    assert sniff(b"hello") is None


def test_model_loads_once_per_process():
    from human_review.inference.base import load_backend

    a = load_backend("local-face-detection", {"adjust_threshold": -0.6, "upsample": 1})
    b = load_backend("local-face-detection", {"upsample": 1, "adjust_threshold": -0.6})
    assert a is b


def test_face_detector_finds_the_astronauts_face_with_high_confidence():
    from human_review.inference.base import load_backend

    backend = load_backend("local-face-detection", {"adjust_threshold": -0.6, "upsample": 1})
    photos = sample_photos()
    astronaut = backend.predict(decode("astronaut.png", photos["astronaut.png"]))
    best = astronaut["Detections"][0]
    assert best["Confidence"] > 95
    box = best["BoundingBox"]
    # Eileen Collins' face sits in the upper middle of the 512x512 photo
    assert 120 < box["Left"] < 260 and 40 < box["Top"] < 160 and 50 < box["Width"] < 150
    coffee = backend.predict(decode("coffee.png", photos["coffee.png"]))
    assert coffee["Detections"] == []


def test_report_keys_are_unique_per_dag_run():
    """Issue 12: a manual run whose run id spells a dated run's key must not overwrite its report."""
    dated = run_key(dt.datetime(2026, 11, 20, 2, tzinfo=dt.timezone.utc), "scheduled__2026-11-20T02:00:00+00:00")
    assert run_key(None, dated) != dated
    assert run_key(None, "a b") != run_key(None, "a/b")  # both clean up to "a-b"
    assert run_key(None, "manual__x") == run_key(None, "manual__x")  # stable across retries and reruns
    assert run_key(None, "../../etc") .startswith("id-etc-")  # path-safe
