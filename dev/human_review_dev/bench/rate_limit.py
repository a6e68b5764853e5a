"""Does the requests-per-second limit hold across a run's parallel tasks?

`python -m human_review_dev.bench.rate_limit --limit 50 --tasks 5 --seconds 20` starts the stand-in
endpoint, then `tasks` processes (as LocalExecutor or Celery runs parallel infer tasks), each
building the SageMaker endpoint backend with the settings infer gives it (its share of the limit,
a bucket that starts empty) and calling InvokeEndpoint from 8 threads as fast as it lets them.
Every call's send time is recorded; printed: the achieved rate over the run (first call to last)
and the busiest one-second window, against the limit.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time


def _task(endpoint_url: str, rps_share: float, seconds: float, start_at: float, out) -> None:
    import boto3
    from concurrent.futures import ThreadPoolExecutor

    from human_review.inference.sagemaker import SageMakerEndpointBackend

    client = boto3.client("sagemaker-runtime", endpoint_url=endpoint_url, region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
    sent: list[float] = []
    client.meta.events.register("before-send.sagemaker-runtime.InvokeEndpoint", lambda **kw: sent.append(time.time()))
    time.sleep(max(0.0, start_at - time.time()))  # every task starts together, like mapped tasks
    backend = SageMakerEndpointBackend(client=client, endpoint_name="rate", requests_per_second=rps_share, burst=1.0,
                                       start_full=False, concurrency=8, content_type="image/jpeg")
    body = b"\xff\xd8rate-limit\xff\xd9"
    end = time.time() + seconds

    def work(_):
        while time.time() < end:
            backend.call(lambda: client.invoke_endpoint(EndpointName="rate", Body=body, ContentType="image/jpeg"),
                         "rate")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    out.put(sent)


def measure(limit: float, tasks: int, seconds: float, latency_ms: float = 20.0) -> dict:
    import subprocess
    import sys

    ep = subprocess.Popen([sys.executable, "-m", "human_review_dev.bench.endpoint", "--latency-ms", str(latency_ms)],
                          stdout=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{int(ep.stdout.readline())}"
        q: mp.Queue = mp.Queue()
        start_at = time.time() + 3
        procs = [mp.Process(target=_task, args=(url, limit / tasks, seconds, start_at, q)) for _ in range(tasks)]
        for p in procs:
            p.start()
        per_task = [q.get() for _ in procs]
        sent = sorted(t for task in per_task for t in task)
        for p in procs:
            p.join()
    finally:
        ep.terminate()
        ep.wait()
    span = sent[-1] - sent[0]
    busiest, j = 0, 0
    for i, t in enumerate(sent):  # sliding one-second window
        while sent[j] < t - 1.0:
            j += 1
        busiest = max(busiest, i - j + 1)
    # while every task runs (Python's start-up on a loaded box staggers their first calls)
    lo, hi = max(min(t) for t in per_task), min(max(t) for t in per_task)
    steady = sum(1 for t in sent if lo <= t <= hi) / max(1e-9, hi - lo)
    first_second = sum(1 for t in sent if t < sent[0] + 1.0)
    return {"steady_per_s": round(steady, 1), "steady_share": round(steady / limit, 3),"limit": limit, "tasks": tasks, "calls": len(sent), "seconds": round(span, 2),
            "achieved_per_s": round((len(sent) - 1) / span, 1), "achieved_share": round((len(sent) - 1) / span / limit, 3),
            "busiest_second": busiest, "busiest_share": round(busiest / limit, 3), "first_second": first_second}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=float, default=50)
    p.add_argument("--tasks", type=int, default=5)
    p.add_argument("--seconds", type=float, default=20)
    args = p.parse_args(argv)
    print(json.dumps(measure(args.limit, args.tasks, args.seconds), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
