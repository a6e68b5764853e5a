"""Throughput of a remote backend over a batch's threads, with and without its RPS limit.

`python -m human_review_dev.bench.remote_backend` starts moto's server, queues SSD results and prints
images/s for the SageMaker endpoint backend unlimited and at a few requests-per-second limits.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def measure_endpoint(backend: Any, n: int = 100, threads: int = 8, first_seed: int = 0) -> dict[str, float]:
    """Predict n distinct generated images over `threads` threads; returns wall time and images/s."""
    import io

    from PIL import Image

    from human_review.images import decode

    images = []
    for i in range(first_seed, first_seed + n):
        buf = io.BytesIO()
        Image.new("RGB", (64, 48), (i % 256, (i // 256) % 256, 7)).save(buf, "JPEG")
        images.append(decode(f"bench/{i}.jpg", buf.getvalue()))
    t = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(backend.predict, images))
    wall = time.perf_counter() - t
    return {"images": n, "seconds": round(wall, 3), "per_second": round(n / wall, 1)}


def main() -> int:  # pragma: no cover - a measurement, not a test
    import json
    import socket

    import boto3
    import httpx
    from moto.server import ThreadedMotoServer

    from human_review.inference.sagemaker import SageMakerEndpointBackend

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        body = json.dumps({"prediction": [[0, 0.9, 0.1, 0.1, 0.5, 0.5]]})
        n, threads = 200, 8
        seed = 0
        for rps in (None, 50, 20):
            httpx.post(f"{url}/moto-api/static/sagemaker/endpoint-results",
                       json={"results": [{"Body": body, "ContentType": "application/json",
                                          "InvokedProductionVariant": "v", "CustomAttributes": ""}] * n})
            client = boto3.client("sagemaker-runtime", endpoint_url=url, region_name="us-east-1",
                                  aws_access_key_id="x", aws_secret_access_key="x")
            backend = SageMakerEndpointBackend(client=client, endpoint_name="bench", requests_per_second=rps, burst=1,
                                               concurrency=threads, body="json", content_type="application/json")
            r = measure_endpoint(backend, n=n, threads=threads, first_seed=seed)
            seed += n
            print(f"sagemaker-endpoint on moto, {threads} threads, rps limit {rps or 'none':>4}: "
                  f"{r['per_second']:7.1f} images/s ({r['images']} in {r['seconds']} s)")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
