"""Decode an image the way a browser shows it, at the size the model needs, at a bounded cost.

The reviewer sees the image in a browser, so the model must see the same picture:

- EXIF orientation is applied (a sideways phone photo is upright for both);
- 16-bit images are scaled to 8 bits (not clipped: clipping turns them white), CMYK is converted
  through its ICC profile when it has one, palette and transparent images are flattened onto white
  (the page behind a transparent pixel);
- the model gets at most `max_side` pixels on the longer side (JPEGs are decoded at a reduced scale
  with `Image.draft`, so a 48 MP photo never exists in memory at full size); `DecodedImage.scale`
  maps what the model finds back to the original's pixels, which is what the reviewer sees;
- what the decoder had to do is said in `DecodedImage.note` ("rotated 90° (EXIF orientation 6)"),
  which becomes the report row's `decode_note`.

Cost is bounded before decoding: an image whose pixels exceed `MAX_PIXELS`, or that would need more
than `DECODE_BUDGET_BYTES` of memory to decode at the scale the format allows, is refused as
`invalid` with the reason (a decompression bomb is called one). So the memory of one image stays
under about 200 MB whatever the file: the budget, plus the file's own bytes (`source.max_bytes`).
"""

from __future__ import annotations

import io
import warnings
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
MAX_PIXELS = 80_000_000  # over this, refuse before decoding anything
DECODE_BUDGET_BYTES = 160 * 1024 * 1024  # what decoding one image may allocate, conversions included
DEFAULT_MAX_SIDE = 1600
# bytes per pixel while decoding and converting to 8-bit RGB, by the mode Pillow decodes to
_PEAK_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "LA": 2, "La": 2, "PA": 2, "RGB": 3, "YCbCr": 3, "RGBA": 4,
                         "RGBa": 4, "RGBX": 4, "CMYK": 4, "I;16": 5, "I;16L": 5, "I;16B": 5, "I;16N": 5,
                         "I": 9, "F": 9}
_ROTATIONS = {2: "mirrored", 3: "rotated 180°", 4: "flipped", 5: "rotated 90° and mirrored", 6: "rotated 90°",
              7: "rotated 270° and mirrored", 8: "rotated 270°"}


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
    """An image decoded for a model: `pil` is 8-bit RGB, upright, at most the model's max_side.

    `width` / `height` are the original's, upright (what the reviewer sees); `scale` is
    pil.width / width, so a box found on `pil` maps back with `to_original`.
    """

    key: str
    format: str
    width: int
    height: int
    data: bytes  # the original bytes, for backends that send bytes on
    pil: object  # PIL.Image.Image in RGB; None when decoded with pixels=False (the model gets `data`)
    scale: float = 1.0
    note: str | None = None  # what decoding changed, in words (None: nothing worth saying)

    def to_original(self, value: float) -> int:
        """A pixel coordinate or length on `pil`, in the original image's pixels."""
        return round(value / self.scale)


def _mb(n: float) -> str:
    return f"{n / 2**20:,.0f} MB" if n >= 2**20 else f"{n / 1024:,.0f} KB"


def _refuse_oversized(fmt: str, width: int, height: int, mode: str, decoded_px: int, size: int) -> None:
    pixels = width * height
    if pixels > MAX_PIXELS:
        bomb = "decompression bomb: " if pixels * 3 > 100 * max(size, 1) else ""
        raise InvalidImageError(f"{bomb}{width}x{height} {fmt} is {pixels:,} pixels, over the {MAX_PIXELS:,} pixel "
                                f"limit ({_mb(size)} on disk); refused before decoding")
    need = decoded_px * _PEAK_BYTES_PER_PIXEL.get(mode, 4)
    if need > DECODE_BUDGET_BYTES:
        bomb = "decompression bomb: " if need > 100 * max(size, 1) else ""
        raise InvalidImageError(f"{bomb}{width}x{height} {fmt} ({mode}) needs {_mb(need)} to decode, over the "
                                f"{_mb(DECODE_BUDGET_BYTES)} per-image budget ({_mb(size)} on disk); "
                                "refused before decoding")


def _to_8bit(img, notes: list[str]):
    """16-bit and 32-bit grayscale scaled to 8 bits, as a browser shows them (not clipped to white)."""
    import numpy as np
    from PIL import Image

    if img.mode.startswith("I;16"):
        arr = np.asarray(img).astype(np.uint16, copy=False)
        notes.append("converted 16-bit -> 8-bit")
        return Image.fromarray((arr >> 8).astype(np.uint8), "L")
    arr = np.asarray(img)
    top = float(arr.max()) if arr.size else 0.0
    if img.mode == "I":
        shift = 8 if top > 255 else 0
        notes.append("converted 16-bit -> 8-bit" if shift else "converted 32-bit -> 8-bit")
        return Image.fromarray((np.clip(arr, 0, 65535) >> shift).clip(0, 255).astype(np.uint8), "L")
    factor = 255.0 if top <= 1.0 else 1.0  # floats: 0-1 or 0-255
    notes.append("converted float -> 8-bit")
    return Image.fromarray(np.clip(arr * factor, 0, 255).astype(np.uint8), "L")


def _cmyk_to_rgb(img, notes: list[str]):
    profile = img.info.get("icc_profile")
    if profile:
        try:
            from PIL import ImageCms

            src = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            rgb = ImageCms.profileToProfile(img, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
            notes.append("converted CMYK -> RGB (ICC profile)")
            return rgb
        except Exception:  # a broken profile: fall back to the plain conversion
            pass
    notes.append("converted CMYK -> RGB")
    return img.convert("RGB")


def _flatten(img, notes: list[str]):
    """Transparent pixels onto white, as a page shows them; palette and grey to RGB."""
    from PIL import Image

    if img.mode in ("RGB", "L") and "transparency" not in img.info:
        return img.convert("RGB")
    rgba = img.convert("RGBA")
    low, _ = rgba.getchannel("A").getextrema()
    if low == 255:
        return rgba.convert("RGB")
    notes.append("transparent areas flattened onto white")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def decode(key: str, data: bytes, max_side: int | None = DEFAULT_MAX_SIDE, *, pixels: bool = True) -> DecodedImage:
    """Decode an image completely (or raise InvalidImageError with a reason a person can act on),
    upright, 8-bit RGB, at most `max_side` pixels on its longer side (None: full size).

    `pixels=False` (backends that send the original bytes on, e.g. SageMaker and Rekognition): only
    check the file and measure it; nothing is converted and `pil` is None. A JPEG's structure is
    checked without decoding its compressed scan (`_jpeg_ends`): headers that parse, and an
    end-of-image marker after the scan, so a file cut short is refused here. Decoding the scan, even
    at 1/8 scale, cost about 1.1 ms per 640x427 photo, a fifth of a remote model's whole client CPU
    per image; damage inside the scan of a complete file is left to the model's service, which
    refuses it (`inference_failed` with its message) or reads it as it reads any JPEG. Other formats
    are decoded fully, as before."""
    from PIL import Image

    if not data:
        raise InvalidImageError("empty file (0 bytes)")
    fmt = sniff(data)
    if fmt is None:
        head = data[:12]
        raise InvalidImageError(f"not an image: content starts with {head!r}, which is no known image format")
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the limits below decide
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:  # more than twice Pillow's own limit
        raise InvalidImageError(f"decompression bomb: {_mb(len(data))} of {fmt} that claims more pixels than "
                                f"any photo ({e}); refused before decoding") from e
    except Exception as e:  # Pillow raises OSError, SyntaxError, ValueError... for broken files
        raise InvalidImageError(f"corrupt or truncated {fmt}: {e}") from e
    try:
        with img:
            width, height = img.size
            orientation = _orientation(img, fmt)
            if orientation in (5, 6, 7, 8):
                width, height = height, width
            decoded = width * height
            if not pixels:
                if fmt == "JPEG":
                    w0, h0 = img.size
                    img.draft(img.mode if img.mode in ("RGB", "L") else None, (max(1, w0 // 8), max(1, h0 // 8)))
                    decoded = img.size[0] * img.size[1]
                _refuse_oversized(fmt, width, height, img.mode, decoded, len(data))
                if fmt != "JPEG" or not _jpeg_ends(data):
                    img.load()  # reads every byte: a truncated file fails here, not in the model
                return DecodedImage(key=key, format=fmt, width=width, height=height, data=data, pil=None)
            if max_side and fmt == "JPEG" and max(width, height) > max_side:
                # decode at 1/2, 1/4 or 1/8 scale, still at least max_side: the full image never exists
                ratio = max_side / max(width, height)
                w0, h0 = img.size
                if img.draft(img.mode if img.mode in ("RGB", "L") else None,
                             (max(1, int(w0 * ratio)), max(1, int(h0 * ratio)))):
                    decoded = img.size[0] * img.size[1]
            _refuse_oversized(fmt, width, height, img.mode, decoded, len(data))
            img.load()  # reads every byte: a truncated file fails here, not in the model
            out = img
            if out.mode in ("I", "F") or out.mode.startswith("I;16"):
                out = _to_8bit(out, notes)
            elif out.mode == "CMYK":
                out = _cmyk_to_rgb(out, notes)
            if max_side and max(out.size) > max_side:
                if out.mode not in ("RGB", "RGBA", "L", "LA"):
                    out = out.convert("RGBA" if ("transparency" in out.info or "A" in out.mode) else "RGB")
                out.thumbnail((max_side, max_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
            out = _flatten(out, notes)
            if orientation in _ROTATIONS:
                out = _orient(out, orientation)  # what ImageOps.exif_transpose does, on the small image
                notes.insert(0, f"{_ROTATIONS[orientation]} (EXIF orientation {orientation})")
    except InvalidImageError:
        raise
    except Image.DecompressionBombError as e:
        raise InvalidImageError(f"decompression bomb: {e}") from e
    except Exception as e:
        raise InvalidImageError(f"corrupt or truncated {fmt}: {e}") from e
    if out.size != (width, height):
        notes.append(f"downscaled {width}x{height} -> {out.width}x{out.height}")
    return DecodedImage(key=key, format=fmt, width=width, height=height, data=data, pil=out,
                        scale=out.width / width, note="; ".join(notes) or None)


_EOI = b"\xff\xd9"


def _jpeg_ends(data: bytes) -> bool:
    """Whether a JPEG's structure is whole, without decoding its compressed scan: walk its marker
    segments to the first scan (SOS), then look for the end-of-image marker after it. Inside the
    scan a 0xFF byte is always followed by 0x00 or a restart marker, so 0xFF 0xD9 there can only be
    the end of the image; one inside an earlier segment (an EXIF thumbnail, a comment) is skipped
    with its segment. Bytes after the end marker are allowed (some cameras append data), as
    decoders allow them. Raises InvalidImageError for a file cut short after its headers; returns
    False when the headers are irregular (junk between segments, which decoders skip with a
    warning): the caller then decodes the file to decide, as before."""
    i, n = 2, len(data)  # after SOI (sniff checked it)
    while True:
        if i + 4 > n or data[i] != 0xFF:
            return False
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        end = i + 2 + int.from_bytes(data[i + 2:i + 4], "big")
        if marker == 0xDA:  # start of scan: the compressed data begins after its header
            break
        i = end
    if data.rfind(_EOI, end) == -1:
        raise InvalidImageError(
            f"corrupt or truncated JPEG: no end-of-image marker after the image data ({n:,} bytes): "
            "the file was cut short (an upload or copy that did not finish?)")
    return True


def _orientation(img, fmt: str) -> int:
    """The EXIF orientation, read without decoding pixels (a PNG's getexif() would decode the image
    when its eXIf chunk comes after the pixel data)."""
    from PIL import Image

    if fmt == "PNG":
        raw = img.info.get("exif")
        if not raw:
            return 1
        exif = Image.Exif()
        exif.load(raw)
    elif fmt in ("JPEG", "TIFF", "WEBP"):
        exif = img.getexif()
    else:
        return 1
    value = exif.get(0x0112, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _orient(img, orientation: int):
    """Apply an EXIF orientation to an image that no longer carries its EXIF (converted, downscaled)."""
    from PIL import Image

    method = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
              5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}[orientation]
    return img.transpose(method)
