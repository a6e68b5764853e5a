"""`human-review bench`: figures for the local models, the conditions and the local review service.

Prints per-image inference time for each local model over the sample photos, activation-condition
throughput, and StartHumanLoop / ListHumanLoops throughput against the local review service.
"""

from __future__ import annotations

import statistics
import tempfile
import time


def _ms(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1000:6.1f} ms  p90 {sorted(samples)[int(len(samples) * 0.9)] * 1000:6.1f} ms"


def run_bench(repeats: int = 3) -> int:
    from human_review.conditions import evaluate
    from human_review.config import load_all
    from human_review.images import decode
    from human_review.inference.base import load_backend
    from human_review_dev.samples import sample_photos

    configs, _ = load_all()
    photos = {name: decode(name, data) for name, data in sample_photos().items()}
    print(f"{len(photos)} sample photos, {repeats} passes each")
    for config in configs:
        t = time.perf_counter()
        backend = load_backend(config.model.backend, config.model.options)
        load = time.perf_counter() - t
        times = []
        for _ in range(repeats):
            for image in photos.values():
                t = time.perf_counter()
                backend.predict(image)
                times.append(time.perf_counter() - t)
        print(f"  {config.model.backend:22s} load {load * 1000:6.0f} ms   per image: {_ms(times)}")

    config = configs[0]
    response = {"ModerationLabels": [{"Name": "Suggestive", "Confidence": 42.0, "ParentName": ""}]}
    n = 20_000
    t = time.perf_counter()
    for i in range(n):
        evaluate(config.review.conditions, response, sampling_key=f"bench|{i}")
    print(f"  conditions ({config.pipeline}): {n / (time.perf_counter() - t):,.0f} evaluations/s")

    _bench_review_service(config.review.flow_definition.flow_definition_arn)
    return 0


def _bench_review_service(arn: str, loops: int = 300, threads: int = 8) -> None:
    """The review service in its own process, as deployed; the client here, as the route step."""
    import socket
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    import boto3
    import httpx
    from botocore.config import Config

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [sys.executable, "-m", "human_review.cli", "portal", "--port", str(port),
             "--db-url", f"sqlite:///{tmp}/bench.sqlite"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"{url}/healthz", timeout=1).raise_for_status()
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("the review service did not start")
                    time.sleep(0.2)
            client = boto3.client("sagemaker-a2i-runtime", endpoint_url=url, region_name="us-east-1",
                                  aws_access_key_id="bench", aws_secret_access_key="bench",
                                  config=Config(max_pool_connections=threads))
            body = {"InputContent": '{"taskObject": "s3://bucket/incoming/photo.jpg"}'}

            def start(i: int) -> float:
                t0 = time.perf_counter()
                client.start_human_loop(HumanLoopName=f"bench-{i:05d}", FlowDefinitionArn=arn, HumanLoopInput=body)
                return time.perf_counter() - t0

            seq = [start(i) for i in range(loops // 3)]
            t = time.perf_counter()
            with ThreadPoolExecutor(threads) as pool:
                par = list(pool.map(start, range(loops // 3, loops)))
            wall = time.perf_counter() - t
            t = time.perf_counter()
            listed = sum(len(p["HumanLoopSummaries"])
                         for p in client.get_paginator("list_human_loops").paginate(FlowDefinitionArn=arn))
            listing = time.perf_counter() - t
            print(f"  review service (own process, SQLite): StartHumanLoop {_ms(seq)} sequential; "
                  f"{len(par) / wall:,.0f}/s with {threads} threads ({_ms(par)})")
            print(f"  review service: ListHumanLoops {listed} loops in {listing * 1000:.0f} ms (pages of 100)")
        finally:
            proc.terminate()
            proc.wait(10)
