"""Benchmark: peak memory and time of decoding + face detection per image, for the big kinds of the
bad-input corpus (issue 10, item 4). Each case runs in a fresh process so its peak RSS is its own.

    .venv/bin/python tests/bench_decode_memory.py

Prints, per case: the decode outcome, the peak RSS growth over the process's baseline (after the
model is loaded and the input generated), tracemalloc's peak of Python allocations, and seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "png_8900x8900_rgb": "bad_images.huge_png(8900, 8900)",
    "png_9000x6000_grey": "bad_images.huge_png(9000, 6000, colour=False)",
    "png_30000x30000_bomb": "bad_images.huge_png(30000, 30000, colour=False)",
    "jpeg_48mp_8000x6000": "bad_images.camera_jpeg(8000, 6000)",
}

CHILD = r"""
import gc, json, resource, sys, time, tracemalloc
sys.path[:0] = [{plugins!r}, {dev!r}, {tests!r}]
import bad_images
from human_review.exceptions import InvalidImageError
from human_review.images import decode
from human_review.inference.base import load_backend

backend = load_backend("local-face-detection", {{}})
data = open({path!r}, "rb").read()
gc.collect()
def status_mb(field):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith(field)) / 1024
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM) to the current RSS: the peak below is this image's
base = status_mb("VmRSS")
tracemalloc.start()
t0 = time.perf_counter()
try:
    image = decode("bench", data, max_side=backend.max_side)
    faces = backend.predict(image)["Detections"]
    outcome = f"{{image.note}}; {{len(faces)}} face(s)"
except InvalidImageError as e:
    outcome = f"invalid: {{e}}"
seconds = time.perf_counter() - t0
_, py_peak = tracemalloc.get_traced_memory()
peak = status_mb("VmHWM")
print(json.dumps({{"bytes": len(data), "outcome": outcome, "seconds": round(seconds, 2),
                  "peak_rss_growth_mb": round(peak - base, 1),
                  "tracemalloc_peak_mb": round(py_peak / 2**20, 1)}}))
"""


def main() -> int:
    import tempfile

    sys.path[:0] = [str(ROOT / "plugins"), str(ROOT / "dev"), str(ROOT / "tests")]
    import bad_images  # noqa: F401  (the CASES expressions use it)

    for name, expr in CASES.items():
        with tempfile.NamedTemporaryFile(suffix=".img") as f:
            f.write(eval(expr))  # the input is made here, so its making does not count in the child's peak
            f.flush()
            code = CHILD.format(plugins=str(ROOT / "plugins"), dev=str(ROOT / "dev"), tests=str(ROOT / "tests"),
                                path=f.name)
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if proc.returncode:
            print(name, "FAILED", proc.stderr[-2000:])
            continue
        print(name, json.dumps(json.loads(proc.stdout.strip().splitlines()[-1]), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
