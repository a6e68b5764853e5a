"""Issue 10, items 3 and 4: the model sees what the reviewer sees, at a bounded cost.

The corpus is made by tests/bad_images.py from the real sample photos; each kind must end with the
status EXPECTED names and say what decoding did (the report's decode_note) or why it refused.
"""

from __future__ import annotations


import numpy as np
import pytest

import bad_images
from human_review.exceptions import InvalidImageError
from human_review.images import decode
from human_review.inference.base import load_backend


def decode_kind(kind: str, **kwargs):
    return decode(kind, bad_images.corpus()[kind], **kwargs)


@pytest.mark.parametrize("kind", sorted(bad_images.EXPECTED))
def test_each_kind_gets_its_status_and_says_why(kind):
    status, words = bad_images.EXPECTED[kind]
    if status == "invalid":
        with pytest.raises(InvalidImageError) as err:
            decode_kind(kind)
        assert str(err.value).startswith(words), str(err.value)
    else:
        image = decode_kind(kind)
        assert image.pil.mode == "RGB"
        assert words in (image.note or "")


@pytest.mark.parametrize("kind", sorted(bad_images.EXPECTED))
def test_checking_without_pixels_refuses_and_measures_the_same(kind):
    """Backends that send the original bytes on check with pixels=False (a JPEG's structure): the same
    files are refused for the same reason, and the rest measure the same upright size."""
    status, words = bad_images.EXPECTED[kind]
    if status == "invalid":
        with pytest.raises(InvalidImageError) as err:
            decode_kind(kind, pixels=False)
        assert str(err.value).startswith(words), str(err.value)
    else:
        full, checked = decode_kind(kind), decode_kind(kind, pixels=False)
        assert checked.pil is None and checked.data == full.data
        assert (checked.width, checked.height, checked.format) == (full.width, full.height, full.format)


def test_a_remote_backend_checks_without_pixels_and_a_local_model_decodes_them():
    assert load_backend("sagemaker-endpoint", {"endpoint_name": "e"}).needs_pixels is False
    assert load_backend("local-face-detection", {}).needs_pixels is True


def _face(image):
    backend = load_backend("local-face-detection", {})
    return backend.predict(image)["Detections"]


def test_a_sideways_phone_photo_of_a_face_is_upright_for_the_model():
    upright = decode("astronaut.png", bad_images._save(bad_images.astronaut(), "PNG"))
    [expected] = [d for d in _face(upright) if d["Confidence"] > 90]
    for kind in ("exif_rotated_face.jpg", "exif_rotated_270.jpg"):
        image = decode_kind(kind)
        assert (image.width, image.height) == (upright.width, upright.height)
        faces = [d for d in _face(image) if d["Confidence"] > 90]
        assert len(faces) == 1, kind  # the old decoder saw the face sideways: no detection, auto-accepted
        box, want = faces[0]["BoundingBox"], expected["BoundingBox"]
        assert all(abs(box[k] - want[k]) <= 12 for k in want), (box, want)


def test_a_16bit_png_is_scaled_not_clipped_to_white():
    image = decode_kind("grey_16bit.png")
    grey = np.asarray(bad_images.astronaut().convert("L"), dtype=np.float64)
    got = np.asarray(image.pil.convert("L"), dtype=np.float64)
    assert got.mean() < 200  # the old decoder gave an all-white frame (mean 255)
    assert np.abs(got - grey).mean() < 2


def test_cmyk_and_transparency_look_as_in_a_browser():
    original = np.asarray(bad_images.astronaut(), dtype=np.float64)
    cmyk = np.asarray(decode_kind("cmyk.jpg").pil, dtype=np.float64)
    assert np.abs(cmyk - original).mean() < 12
    palette = np.asarray(decode_kind("palette_transparent.png").pil)
    assert (palette[:, : palette.shape[1] // 2] == 255).all()  # the transparent half is the page's white
    rgba = np.asarray(decode_kind("rgba_transparent.png").pil)
    assert (rgba[: rgba.shape[0] // 2] == 255).all()  # not the black hidden under it


def test_a_camera_jpeg_is_decoded_small_and_its_boxes_map_back(tmp_path):
    data = bad_images.camera_jpeg(4000, 4000)
    image = decode("camera.jpg", data, max_side=1280)
    assert (image.width, image.height) == (4000, 4000)
    assert max(image.pil.size) == 1280
    assert image.note == "downscaled 4000x4000 -> 1280x1280"
    [face] = [d for d in _face(image) if d["Confidence"] > 90]
    small = decode("astronaut.png", bad_images._save(bad_images.astronaut(), "PNG"))
    [ref] = [d for d in _face(small) if d["Confidence"] > 90]
    factor = 4000 / 512  # the same face, in the big image's pixels
    for k in ("Left", "Top", "Width", "Height"):
        assert abs(face["BoundingBox"][k] - ref["BoundingBox"][k] * factor) <= 0.08 * 4000, (k, face, ref)


def test_the_huge_png_is_refused_before_decoding_and_named_a_bomb():
    with pytest.raises(InvalidImageError) as err:
        decode("huge.png", bad_images.huge_png(8900, 8900))
    assert str(err.value).startswith("decompression bomb: 8900x8900 PNG (RGB) needs 227 MB to decode")


def test_a_huge_grey_png_within_the_budget_is_decoded_small():
    image = decode("grey.png", bad_images.huge_png(9000, 6000, colour=False), max_side=1000)
    assert image.pil.size == (1000, 667)
    assert image.note == "downscaled 9000x6000 -> 1000x667"


def test_max_side_is_a_model_option_with_a_default_per_backend():
    from human_review.config import ModelConfig

    assert load_backend("local-face-detection", {}).max_side == 1280
    assert load_backend("local-moderation", {}).max_side == 512
    assert load_backend("local-face-detection", {"max_side": 800}).max_side == 800
    ModelConfig(backend="local-face-detection", options={"max_side": 800})
    with pytest.raises(ValueError, match="options.max_side"):
        ModelConfig(backend="local-face-detection", options={"max_side": 10})


def test_the_note_reaches_the_report_row():
    from human_review.records import PredictionRecord, RoutedItem, Status
    from human_review.reports.rows import row

    record = PredictionRecord(key="a.jpg", size=1, status=Status.PREDICTED, prediction={"Detections": []},
                              decode_note="rotated 90° (EXIF orientation 6)")
    item = RoutedItem.from_dict(RoutedItem.from_prediction(PredictionRecord.from_dict(record.to_dict())).to_dict())
    out = row(item, {}, pipeline="p", run_key="r", bucket="b", dry_run=False,
              summarise_prediction=lambda p: "", iou_threshold=0.5)
    assert out["decode_note"] == "rotated 90° (EXIF orientation 6)"


# ---- the JPEG check of backends that send the original bytes on (pixels=False) ---------------------


def _rocket() -> bytes:
    from human_review_dev.samples import sample_photos

    return sample_photos()["rocket.jpg"]


@pytest.mark.parametrize("cut", [0.02, 0.5, 0.999])
def test_a_jpeg_cut_anywhere_is_refused_without_decoding_its_scan(cut):
    data = _rocket()
    with pytest.raises(InvalidImageError, match="corrupt or truncated JPEG"):
        decode("cut.jpg", data[: int(len(data) * cut)], pixels=False)


def test_an_end_marker_in_a_header_segment_does_not_pass_a_cut_file():
    """A comment (or an EXIF thumbnail) before the scan can hold the bytes FF D9: only one after the
    scan's start counts."""
    image = bad_images.astronaut()
    data = bad_images._save(image, "JPEG", quality=90, comment=b"thumbnail ends \xff\xd9 here")
    assert data.find(b"\xff\xd9") < len(data) // 10
    decode("whole.jpg", data, pixels=False)  # complete: accepted
    with pytest.raises(InvalidImageError, match="no end-of-image marker"):
        decode("cut.jpg", data[: len(data) * 3 // 4], pixels=False)


def test_progressive_jpegs_and_bytes_after_the_end_marker_are_accepted():
    image = bad_images.astronaut()
    progressive = bad_images._save(image, "JPEG", quality=85, progressive=True)
    checked = decode("p.jpg", progressive, pixels=False)
    assert (checked.width, checked.height) == image.size
    with pytest.raises(InvalidImageError, match="corrupt or truncated JPEG"):
        decode("p-cut.jpg", progressive[: len(progressive) * 2 // 3], pixels=False)
    trailing = _rocket() + b"camera maker's trailer"
    assert decode("t.jpg", trailing, pixels=False).format == "JPEG"
    assert decode("t.jpg", trailing).pil is not None  # the full decode accepts it too: the two agree


def test_every_sample_photo_passes_the_check():
    from human_review_dev.samples import sample_photos

    for name, data in sample_photos().items():
        full, checked = decode(name, data), decode(name, data, pixels=False)
        assert (checked.width, checked.height, checked.format) == (full.width, full.height, full.format), name


def test_junk_between_header_segments_is_decoded_to_decide_as_before():
    """Decoders skip stray bytes between segments with a warning; the structural walk gives up on
    them and the file is decoded, so it is accepted when whole and refused when cut short."""
    data = _rocket()
    app0_end = 4 + int.from_bytes(data[4:6], "big")  # SOI, then APP0's marker and length
    assert data[2:4] == b"\xff\xe0"
    junk = data[:app0_end] + b"\x00\x00junk" + data[app0_end:]
    assert decode("junk.jpg", junk, pixels=False).width == 640
    with pytest.raises(InvalidImageError, match="corrupt or truncated JPEG"):
        decode("junk-cut.jpg", junk[: len(junk) // 2], pixels=False)
