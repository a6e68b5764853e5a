"""Real sample photos that ship inside installed packages, and deliberately broken files.

Nothing is downloaded: scikit-image and scikit-learn carry these photos in their wheels
(public domain / CC0 per scikit-image's docstrings; CC-BY 2.0 for scikit-learn's, see its
README). The broken files exercise the `invalid` path: a truncated JPEG, an empty PNG, text
named .jpg, and a file with an extension the pipelines do not accept.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

SKIMAGE_PHOTOS = (
    "astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "camera.png",
    "motorcycle_left.png", "hubble_deep_field.jpg",
)
SKLEARN_PHOTOS = ("china.jpg", "flower.jpg")

# The answer key of the sample photos, checked by eye: what a careful reviewer answers. Simulated
# reviewers answer from it (with a configurable error rate), so the demo's figures mean something.
# Faces: pixel boxes {left, top, width, height} of every human face. Only the astronaut (Eileen
# Collins) and the cameraman show one; the mission patch on the suit and the cat are not faces.
FACES: dict[str, list[dict[str, int]]] = {
    "astronaut.png": [{"left": 176, "top": 74, "width": 90, "height": 94}],
    "camera.png": [{"left": 207, "top": 115, "width": 60, "height": 72}],  # in profile, behind the camera
    "coffee.png": [], "chelsea.png": [], "rocket.jpg": [], "motorcycle_left.png": [],
    "hubble_deep_field.jpg": [], "china.jpg": [], "flower.jpg": [],
}
# Moderation: every sample photo is benign (no Rekognition moderation category applies).
MODERATION: dict[str, list[str]] = {name: [] for name in FACES}


def answer_key(object_key: str) -> dict[str, list] | None:
    """The truth for a sample photo ({"faces": [...], "moderation": [...]}), found by file name; None if unknown."""
    name = object_key.rsplit("/", 1)[-1]
    if name not in FACES:
        return None
    return {"faces": [dict(b) for b in FACES[name]], "moderation": list(MODERATION[name])}


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    return Path(spec.origin).parent if spec and spec.origin else None


def sample_photos() -> dict[str, bytes]:
    """file name -> bytes of every sample photo found in the installed packages."""
    found: dict[str, bytes] = {}
    for package, sub, names in (("skimage", "data", SKIMAGE_PHOTOS), ("sklearn", "datasets/images", SKLEARN_PHOTOS)):
        root = _package_dir(package)
        for name in names:
            if root and (root / sub / name).is_file():
                found[name] = (root / sub / name).read_bytes()
    if not found:
        raise RuntimeError("no sample photos found: install scikit-image (requirements-dev.txt; make venv)")
    return found


def broken_files(photos: dict[str, bytes] | None = None) -> dict[str, tuple[bytes, str]]:
    """file name -> (bytes, why it is broken)."""
    photos = photos or sample_photos()
    jpeg = next(data for name, data in photos.items() if name.endswith(".jpg"))
    return {
        "truncated.jpg": (jpeg[: len(jpeg) // 3], "JPEG cut off after a third of its bytes"),
        "empty.png": (b"", "zero bytes"),
        "not-an-image.jpg": (b"This is a text file with a .jpg name.\n", "text named .jpg"),
        "notes.txt": (b"scanner notes\n", "extension the pipelines do not accept"),
    }


def seed(s3_client, bucket: str, prefix: str, *, broken: bool = True) -> list[str]:
    """Upload the sample photos (and the broken files) under s3://bucket/prefix; return the keys."""
    photos = sample_photos()
    files = dict(photos)
    if broken:
        files.update({name: data for name, (data, _) in broken_files(photos).items()})
    keys = []
    for name, data in sorted(files.items()):
        key = f"{prefix.rstrip('/')}/{name}"
        s3_client.put_object(Bucket=bucket, Key=key, Body=data)
        keys.append(key)
    return keys
