"""What the image proxy sends: the type the bytes are, and headers that keep them passive.

Source images come from uploaders the service does not trust. Whatever ``Content-Type`` they set
on the S3 object, the proxy decides the type from the magic bytes, serves only the raster formats
the pipeline accepts (``images.sniff``), and adds ``nosniff``, a CSP that runs nothing (with
``sandbox``, so even a document would get an opaque origin without scripts) and an inline
``Content-Disposition``. HTML, SVG, PDF and anything else is refused.
"""

from __future__ import annotations

from human_review.images import sniff

MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "BMP": "image/bmp",
        "TIFF": "image/tiff", "WEBP": "image/webp"}
EXTENSION = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "BMP": "bmp", "TIFF": "tiff", "WEBP": "webp"}
IMAGE_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"


def refuse_or_headers(head: bytes, key: str) -> tuple[str | None, dict[str, str]]:
    """``(why it is refused, {})`` or ``(None, response headers)`` for an object starting with `head`."""
    fmt = sniff(head)
    if fmt is None:
        return (f"{key} is not an image the pipeline accepts (JPEG, PNG, GIF, BMP, TIFF, WebP); "
                "the proxy serves nothing else."), {}
    stem = key.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)[:100] or "image"
    return None, {
        "Content-Type": MIME[fmt],
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": IMAGE_CSP,
        "Content-Disposition": f'inline; filename="{safe}.{EXTENSION[fmt]}"',
        "Cross-Origin-Resource-Policy": "same-origin",
    }
