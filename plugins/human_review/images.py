"""Cheap, honest image validation: what a file really is, whatever its name says."""

from __future__ import annotations

import io
from dataclasses import dataclass

from human_review.exceptions import InvalidImageError

# magic bytes -> format name (as Pillow names it)
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)
MAX_PIXELS = 80_000_000  # refuse decompression bombs before decoding


def sniff(data: bytes) -> str | None:
    """The image format the bytes start with, or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    for magic, fmt in _SIGNATURES:
        if data.startswith(magic):
            return fmt
    return None


@dataclass(frozen=True)
class DecodedImage:
    """A fully decoded RGB image, ready for any model."""

    key: str
    format: str
    width: int
    height: int
    data: bytes  # the original bytes, for backends that send bytes on
    pil: object  # PIL.Image.Image in RGB


def decode(key: str, data: bytes) -> DecodedImage:
    """Decode an image completely or raise InvalidImageError with a reason a person can act on."""
    from PIL import Image

    if not data:
        raise InvalidImageError("empty file (0 bytes)")
    fmt = sniff(data)
    if fmt is None:
        head = data[:12]
        raise InvalidImageError(f"not an image: content starts with {head!r}, which is no known image format")
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_PIXELS:
                raise InvalidImageError(f"{img.width}x{img.height} pixels is over the {MAX_PIXELS:,} pixel limit")
            img.load()  # reads every byte: a truncated file fails here, not in the model
            rgb = img.convert("RGB")
    except InvalidImageError:
        raise
    except Exception as e:  # Pillow raises OSError, SyntaxError, ValueError... for broken files
        raise InvalidImageError(f"corrupt or truncated {fmt}: {e}") from e
    return DecodedImage(key=key, format=fmt, width=rgb.width, height=rgb.height, data=data, pil=rgb)
