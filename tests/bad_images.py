"""The bad-input corpus, made by code (no binary fixtures): every kind of file a night can bring that
a naive decoder gets wrong, built from the real sample photos.

    corpus()            -> {kind: bytes} for the cheap kinds (a few MB in all)
    huge_png(w, h)      -> a PNG of w x h black pixels, streamed (a 30000x30000 one is ~1 MB)
    camera_jpeg(w, h)   -> a big camera-like JPEG (astronaut upscaled; 8000x6000 = 48 MP)

EXPECTED says, per kind, the report status and what the decode note must mention.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib

from human_review_dev.samples import sample_photos


def astronaut():
    from PIL import Image

    return Image.open(io.BytesIO(sample_photos()["astronaut.png"])).convert("RGB")


def _save(img, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def exif_rotated_jpeg(orientation: int = 6) -> bytes:
    """The astronaut's face stored sideways, with the EXIF orientation that makes viewers show it
    upright: how a phone held sideways saves a photo."""
    from PIL import Image

    undo = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270, 3: Image.Transpose.ROTATE_180}[orientation]
    stored = astronaut().transpose(undo)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _save(stored, "JPEG", quality=92, exif=exif)


def png_16bit() -> bytes:
    """A 16-bit grayscale PNG (a scanner's or a microscope's): Pillow opens it as I;16."""
    import numpy as np
    from PIL import Image

    grey = np.asarray(astronaut().convert("L"), dtype=np.uint16) * 257
    return _save(Image.fromarray(grey), "PNG")  # uint16 -> I;16


def cmyk_jpeg() -> bytes:
    return _save(astronaut().convert("CMYK"), "JPEG", quality=92)


def palette_transparent_png() -> bytes:
    """A palette PNG whose left half is transparent (its colour index there is black)."""
    from PIL import Image

    img = astronaut().convert("P", palette=Image.Palette.ADAPTIVE, colors=255)
    px = img.load()
    for y in range(img.height):
        for x in range(img.width // 2):
            px[x, y] = 255
    pal = img.getpalette()
    pal[255 * 3: 255 * 3 + 3] = [0, 0, 0]
    img.putpalette(pal)
    return _save(img, "PNG", transparency=255)


def rgba_png() -> bytes:
    """RGBA with a fully transparent top half whose hidden colour is black."""
    img = astronaut().convert("RGBA")
    alpha = img.getchannel("A").point(lambda _: 255)
    alpha.paste(0, (0, 0, img.width, img.height // 2))
    img.putalpha(alpha)
    px = img.load()
    for y in range(img.height // 2):
        for x in range(img.width):
            px[x, y] = (0, 0, 0, 0)
    return _save(img, "PNG")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def huge_png(width: int, height: int, colour: bool = True) -> bytes:
    """w x h black pixels, compressed row by row (never in memory at full size)."""
    channels, colour_type = (3, 2) if colour else (1, 0)
    z = zlib.compressobj(1)
    rows = b"\x00" * ((1 + width * channels) * 64)  # 64 rows at a time
    parts = [z.compress(rows) for _ in range(height // 64)]
    parts.append(z.compress(b"\x00" * ((1 + width * channels) * (height % 64))))
    parts.append(z.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b"")


def camera_jpeg(width: int = 8000, height: int = 6000) -> bytes:
    """A camera-sized JPEG of a real photo (the astronaut, upscaled)."""
    from PIL import Image

    big = astronaut().resize((width, height), Image.Resampling.BILINEAR)
    return _save(big, "JPEG", quality=85)


@functools.cache
def corpus() -> dict[str, bytes]:
    photos = sample_photos()
    jpeg = photos["rocket.jpg"]
    png = photos["coffee.png"]
    return {
        "exif_rotated_face.jpg": exif_rotated_jpeg(6),
        "exif_rotated_270.jpg": exif_rotated_jpeg(8),
        "grey_16bit.png": png_16bit(),
        "cmyk.jpg": cmyk_jpeg(),
        "palette_transparent.png": palette_transparent_png(),
        "rgba_transparent.png": rgba_png(),
        "bomb_30000.png": huge_png(30000, 30000, colour=False),
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "truncated.png": png[: len(png) // 2],
        "empty.png": b"",
        "text.jpg": b"this is not an image\n",
    }


# kind -> (status, words the decode note or the invalid reason must hold)
EXPECTED = {
    "exif_rotated_face.jpg": ("predicted", "rotated 90° (EXIF orientation 6)"),
    "exif_rotated_270.jpg": ("predicted", "rotated 270° (EXIF orientation 8)"),
    "grey_16bit.png": ("predicted", "converted 16-bit -> 8-bit"),
    "cmyk.jpg": ("predicted", "converted CMYK -> RGB"),
    "palette_transparent.png": ("predicted", "transparent areas flattened onto white"),
    "rgba_transparent.png": ("predicted", "transparent areas flattened onto white"),
    "bomb_30000.png": ("invalid", "decompression bomb"),
    "truncated.jpg": ("invalid", "corrupt or truncated JPEG"),
    "truncated.png": ("invalid", "corrupt or truncated PNG"),
    "empty.png": ("invalid", "empty file"),
    "text.jpg": ("invalid", "not an image"),
}
