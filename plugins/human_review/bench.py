"""`human-review bench`: figures for the local models, the conditions and the local review service.

Prints per-image inference time for each local model over the sample photos, activation-condition
throughput, and StartHumanLoop / ListHumanLoops throughput against the local review service.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path


def _ms(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1000:6.1f} ms  p90 {sorted(samples)[int(len(samples) * 0.9)] * 1000:6.1f} ms"


def run_bench(repeats: int = 3) -> int:
    from human_review.conditions import evaluate
    from human_review.config import load_all
    from human_review.images import decode
    from human_review.inference.base import load_backend
    from human_review.samples import sample_photos

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

    from human_review.local_stack import local_stack

    with tempfile.TemporaryDirectory() as tmp, local_stack(Path(tmp)) as stack:
        client = stack.a2i_client()
        arn = config.review.flow_definition.flow_definition_arn
        loops = 200
        t = time.perf_counter()
        for i in range(loops):
            client.start_human_loop(HumanLoopName=f"bench-{i:05d}", FlowDefinitionArn=arn,
                                    HumanLoopInput={"InputContent": '{"taskObject": "s3://b/k.jpg"}'})
        start = time.perf_counter() - t
        t = time.perf_counter()
        listed = sum(len(p["HumanLoopSummaries"]) for p in
                     client.get_paginator("list_human_loops").paginate(FlowDefinitionArn=arn))
        listing = time.perf_counter() - t
        print(f"  local review service: StartHumanLoop {loops / start:,.0f}/s, "
              f"ListHumanLoops {listed} loops in {listing * 1000:.0f} ms (pages of 100)")
    return 0
