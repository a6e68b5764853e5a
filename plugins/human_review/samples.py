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
        raise RuntimeError("no sample photos found: install scikit-image (see requirements.txt)")
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
