"""Loop names are deterministic and valid; image validation gives reasons a person can act on."""

from __future__ import annotations

import datetime as dt

import pytest

from human_review.exceptions import InvalidImageError
from human_review.images import decode, sniff
from human_review.naming import LOOP_NAME, loop_name, loop_prefix, run_key
from human_review.samples import broken_files, sample_photos


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
