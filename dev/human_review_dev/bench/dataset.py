"""The bench's images: variants of the sample photos (crops, flips, noise, resizes) as JPEGs,
plus a share of broken files, uploaded to local S3 under one prefix.

A pool of distinct variants is made once (encoding is the slow part) and cycled over the keys,
so 100,000 keys cost 100,000 uploads, not 100,000 encodings.
"""

from __future__ import annotations

import io
import random
from concurrent.futures import ThreadPoolExecutor

from human_review_dev.samples import broken_files, sample_photos


def variants(count: int = 96, seed: int = 0) -> list[bytes]:
    """`count` JPEGs around 640x427, each a different crop/flip/noise/size of a sample photo."""
    import numpy as np
    from PIL import Image, ImageOps

    rnd = random.Random(seed)
    photos = [Image.open(io.BytesIO(data)).convert("RGB") for _, data in sorted(sample_photos().items())]
    out = []
    for i in range(count):
        img = photos[i % len(photos)]
        w, h = img.size
        cw, ch = int(w * rnd.uniform(0.6, 1.0)), int(h * rnd.uniform(0.6, 1.0))
        x, y = rnd.randint(0, w - cw), rnd.randint(0, h - ch)
        v = img.crop((x, y, x + cw, y + ch))
        if rnd.random() < 0.5:
            v = ImageOps.mirror(v)
        width = rnd.choice((640, 640, 640, 512, 800))
        v = v.resize((width, int(width * 427 / 640)))
        if rnd.random() < 0.5:
            arr = np.asarray(v, dtype=np.int16)
            noise = np.random.default_rng(i).normal(0, 6, arr.shape).astype(np.int16)
            v = Image.fromarray(np.clip(arr + noise, 0, 255).astype(np.uint8))
        buf = io.BytesIO()
        v.save(buf, format="JPEG", quality=85)
        out.append(buf.getvalue())
    return out


def plan(images: int, broken_rate: float, seed: int = 0) -> list[tuple[str, int | str]]:
    """(file name, pool index or broken file name) for each of `images` objects."""
    rnd = random.Random(seed)
    broken = sorted(broken_files(sample_photos()))
    names = []
    for i in range(images):
        if rnd.random() < broken_rate:
            name = broken[i % len(broken)]
            stem, ext = name.rsplit(".", 1)
            names.append((f"img-{i:06d}-{stem}.{ext}", name))
        else:
            names.append((f"img-{i:06d}.jpg", i))
    return names


def upload(s3, bucket: str, prefix: str, images: int, broken_rate: float = 0.02, threads: int = 16,
           pool_size: int = 96) -> list[str]:
    """Upload `images` objects under s3://bucket/prefix; returns their keys."""
    pool = variants(pool_size)
    broken = {name: data for name, (data, _) in broken_files(sample_photos()).items()}
    todo = [(f"{prefix.rstrip('/')}/{name}", broken[src] if isinstance(src, str) else pool[src % len(pool)])
            for name, src in plan(images, broken_rate)]
    with ThreadPoolExecutor(threads) as ex:
        list(ex.map(lambda kv: s3.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]), todo))
    return [k for k, _ in todo]
