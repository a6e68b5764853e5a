"""`human-review bench --service`: the review service under concurrent load, in its own process.

For each database (SQLite, and PostgreSQL when HUMAN_REVIEW_TEST_POSTGRES_URL is set) it starts
`human-review portal` (moto's S3 server in another process takes the output.json files), then:

- StartHumanLoop per second with 1, 8 and 20 callers, through boto3 (SigV4 signed), each phase on a
  flow definition of its own (the in-flight quota is per flow definition);
- claim and submit latency (p50, p99) with 20 reviewers emptying a queue through the worker JSON API,
  twice: at a reviewer's pace (each spends `REVIEW_THINK_S` on a task between claim and submit, far
  quicker than people, so 20 of them ask for about 20 tasks a second), and flat out (no time on the
  task: the service's saturation, reported as tasks per second; the latencies there are queueing).

Callers run in several client processes (one per caller up to `processes`, threads beyond that) so
the client's own CPU and GIL do not cap the figures; on a 2-core machine the callers and the service
still share the CPU, so the rates are a floor. Prints a table and writes JSON (`--json`).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

CALLERS = (1, 8, 20)
REVIEWERS = 20
REVIEW_THINK_S = 1.0  # a reviewer's time on a task in the paced phase (people take several seconds)
KEY = "bench"
REGION = "us-east-1"
BUCKET = "bench-review"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, what: str, timeout: float = 240) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited with code {proc.returncode} before answering {url}") from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not answer {url} within {timeout:.0f} s") from None
            time.sleep(0.2)


@contextmanager
def _process(args: list[str], url: str, what: str, env: dict[str, str] | None = None) -> Iterator[None]:
    # Output to a file, never an unread pipe: moto and uvicorn log every request, and once a pipe's
    # 64 KB buffer is full the server blocks on its next log line (the bench hung at ~300 submits).
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        try:
            _wait_http(url, proc, what)
        except RuntimeError as e:
            log.seek(0)
            tail = log.read().decode(errors="replace").splitlines()[-20:]
            raise RuntimeError(f"{e}; its last lines:\n" + "\n".join(tail)) from None
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def _flow_names(callers: tuple[int, ...]) -> list[str]:
    return [f"bench-start-{n}" for n in callers] + ["bench-review"]


def _write_pipelines(directory: Path, names: list[str]) -> None:
    import yaml

    from human_review import config

    raw = yaml.safe_load((config.PIPELINES_DIR / "content_moderation.yaml").read_text())
    for name in names:
        raw["pipeline"] = name
        fd = raw["review"]["flow_definition"]
        fd.pop("arn", None)
        fd.update(name=name, task_count=1, output_path=f"s3://{BUCKET}/a2i-output")
        (directory / f"{name.replace('-', '_')}.yaml").write_text(yaml.safe_dump(raw))


@contextmanager
def _postgres_schema(raw_url: str) -> Iterator[str]:
    """A schema of our own in the given database (nothing else there is touched); dropped after."""
    import sqlalchemy as sa

    base = raw_url.replace("postgresql://", "postgresql+psycopg://", 1) if raw_url.startswith("postgresql://") else raw_url
    schema = f"hr_bench_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        sep = "&" if "?" in base else "?"
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def _percentile(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))] if s else float("nan")


# ---- client processes ---------------------------------------------------------------------------


def _start_loops(url: str, flow: str, names: list[str], threads: int, start_at: float) -> tuple[list[float], int, float]:
    """In a client process: start the named loops with `threads` boto3 callers; (latencies, errors,
    time.time() of the last answer).

    Each caller builds its client first, then all wait for `start_at` (wall-clock time), so the
    phase times the service with every caller ready, not the client processes importing boto3."""
    import boto3
    from botocore.config import Config

    arn = f"arn:aws:sagemaker:{REGION}:000000000000:flow-definition/{flow}"
    body = {"InputContent": json.dumps({"taskObject": f"s3://{BUCKET}/incoming/photo.jpg", "flaggedBy": ["bench"]})}
    session = boto3.session.Session()
    clients = [session.client(
        "sagemaker-a2i-runtime", endpoint_url=url, region_name=REGION, aws_access_key_id=KEY,
        aws_secret_access_key=KEY, config=Config(retries={"max_attempts": 1}, max_pool_connections=2))
        for _ in range(threads)]
    errors = 0

    def run(client, mine: list[str]) -> list[float]:
        nonlocal errors
        lat = []
        for name in mine:
            t0 = time.perf_counter()
            try:
                client.start_human_loop(HumanLoopName=name, FlowDefinitionArn=arn, HumanLoopInput=body)
            except Exception:  # noqa: BLE001 - counted and reported
                errors += 1
                continue
            lat.append(time.perf_counter() - t0)
        return lat

    time.sleep(max(0.0, start_at - time.time()))
    with ThreadPoolExecutor(threads) as pool:
        lat = [x for part in pool.map(run, clients, _split(names, threads)) for x in part]
    return lat, errors, time.time()


def _review(url: str, flow: str, workers: list[str], think_s: float = 0.0) -> tuple[list[float], list[float], int]:
    """In a client process: each worker claims and submits until the queue is empty, spending
    `think_s` on each task in between."""
    import httpx

    def run(worker: str) -> tuple[list[float], list[float], int]:
        claims, submits, errors = [], [], 0
        with httpx.Client(base_url=url, headers={"X-Worker-Id": worker}, timeout=60) as c:
            while errors < 50:
                t0 = time.perf_counter()
                try:
                    r = c.post(f"/worker/api/queues/{flow}/claim")
                except httpx.HTTPError:
                    r = None
                claims.append(time.perf_counter() - t0)
                if r is not None and r.status_code == 204:
                    break
                if r is not None and r.status_code in (401, 403):  # no retry helps: say why, once
                    raise RuntimeError(f"the review service refused {worker}'s claim: HTTP {r.status_code} {r.text[:200]}")
                if r is None or r.status_code != 200:
                    errors += 1
                    continue
                task = r.json()
                if think_s:
                    time.sleep(think_s)
                t0 = time.perf_counter()
                try:
                    s = c.post(f"/worker/api/tasks/{task['taskId']}/submit",
                               json={"answerContent": {"bench": {"by": worker}}})
                except httpx.HTTPError:
                    s = None
                submits.append(time.perf_counter() - t0)
                if s is None or s.status_code != 200:
                    if s is not None and s.status_code in (400, 401, 403):
                        raise RuntimeError(f"the review service refused {worker}'s answer: HTTP {s.status_code} {s.text[:200]}")
                    errors += 1
        return claims, submits, errors

    with ThreadPoolExecutor(len(workers)) as pool:
        results = list(pool.map(run, workers))
    return ([x for r in results for x in r[0]], [x for r in results for x in r[1]], sum(r[2] for r in results))


def _split(items: list, parts: int) -> list[list]:
    return [items[i::parts] for i in range(parts) if items[i::parts]]


# Time the client processes get to build their boto3 clients before a start phase begins.
CLIENT_READY_S = 3.0


def _start_phase(pool, url: str, flow: str, callers: int, loops: int, processes: int) -> dict:
    names = [f"{flow}-{uuid.uuid4().hex[:6]}-{i:06d}" for i in range(loops)]
    procs = min(processes, callers)
    chunks = _split(names, procs)
    threads = [callers // procs + (1 if i < callers % procs else 0) for i in range(procs)]
    start_at = time.time() + CLIENT_READY_S
    results = [pool.apply_async(_start_loops, (url, flow, chunk, n, start_at)) for chunk, n in zip(chunks, threads)]
    results = [r.get() for r in results]
    wall = max(r[2] for r in results) - start_at
    lat = [x for r in results for x in r[0]]
    errors = sum(r[1] for r in results)
    return {"callers": callers, "loops": loops, "errors": errors, "wall_s": round(wall, 3),
            "per_s": round(len(lat) / wall, 1), "p50_ms": round(_percentile(lat, 0.5) * 1000, 1),
            "p99_ms": round(_percentile(lat, 0.99) * 1000, 1)}


def _review_phase(pool, url: str, processes: int, loops: int, think_s: float) -> dict:
    flow = "bench-review"
    _start_phase(pool, url, flow, 8, loops, processes)
    workers = [f"reviewer-{i:02d}" for i in range(REVIEWERS)]
    t = time.perf_counter()
    results = [pool.apply_async(_review, (url, flow, chunk, think_s)) for chunk in _split(workers, processes)]
    results = [r.get() for r in results]
    wall = time.perf_counter() - t
    claims = [x for r in results for x in r[0]]
    submits = [x for r in results for x in r[1]]

    def ms(samples, q):
        return round(_percentile(samples, q) * 1000, 1)

    return {"reviewers": REVIEWERS, "think_s": think_s, "loops": loops, "submit_calls": len(submits),
            "errors": sum(r[2] for r in results), "wall_s": round(wall, 3),
            "tasks_per_s": round(len(submits) / wall, 1), "claim_p50_ms": ms(claims, 0.5), "claim_p99_ms": ms(claims, 0.99),
            "submit_p50_ms": ms(submits, 0.5), "submit_p99_ms": ms(submits, 0.99)}


def _bench_database(label: str, db_url: str, *, pipelines: Path, s3_url: str, workers: int, loops: dict[int, int],
                    review_loops: int, paced_loops: int, processes: int) -> dict:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    # 127.0.0.1 only: the bench's reviewers name themselves with X-Worker-Id, as the dev stacks allow
    env = dict(os.environ, HUMAN_REVIEW_PIPELINES_DIR=str(pipelines), AWS_ACCESS_KEY_ID=KEY,
               AWS_SECRET_ACCESS_KEY=KEY, AWS_DEFAULT_REGION=REGION, HUMAN_REVIEW_PORTAL_ALLOW_WORKER_ID_HEADER="true")
    args = [sys.executable, "-m", "human_review.cli", "portal", "--port", str(port), "--db-url", db_url,
            "--s3-endpoint-url", s3_url]
    if workers > 1:
        args += ["--workers", str(workers)]
    out: dict = {"database": label, "workers": workers}
    with _process(args, f"{url}/healthz", "the review service", env=env), \
            multiprocessing.get_context("spawn").Pool(processes) as pool:
        pool.apply(_start_loops, (url, f"bench-start-{CALLERS[0]}", [f"warmup-{uuid.uuid4().hex[:8]}"], 1, 0.0))
        out["start"] = []
        for n in loops:
            out["start"].append(_start_phase(pool, url, f"bench-start-{n}", n, loops[n], processes))
            print(f"  {label}: StartHumanLoop {out['start'][-1]}", flush=True)
        out["review"] = []
        for think_s, n in ((REVIEW_THINK_S, paced_loops), (0.0, review_loops)):
            out["review"].append(_review_phase(pool, url, processes, n, think_s))
            print(f"  {label}: review {out['review'][-1]}", flush=True)
    return out


def _print_table(results: list[dict]) -> None:
    print(f"{'database':12s} {'workers':>7s} {'callers':>7s} {'starts/s':>9s} {'p50 ms':>7s} {'p99 ms':>7s} {'errors':>6s}")
    for r in results:
        for s in r["start"]:
            print(f"{r['database']:12s} {r['workers']:7d} {s['callers']:7d} {s['per_s']:9.1f} {s['p50_ms']:7.1f} "
                  f"{s['p99_ms']:7.1f} {s['errors']:6d}")
    print()
    print(f"{'database':12s} {'workers':>7s} {'reviewers':>9s} {'s/task':>6s} {'tasks':>6s} {'tasks/s':>7s} "
          f"{'claim p50':>9s} {'claim p99':>9s} {'submit p50':>10s} {'submit p99':>10s} {'errors':>6s}  (ms)")
    for r in results:
        for v in r["review"]:
            print(f"{r['database']:12s} {r['workers']:7d} {v['reviewers']:9d} {v['think_s']:6.1f} {v['submit_calls']:6d} "
                  f"{v['tasks_per_s']:7.1f} {v['claim_p50_ms']:9.1f} {v['claim_p99_ms']:9.1f} {v['submit_p50_ms']:10.1f} "
                  f"{v['submit_p99_ms']:10.1f} {v['errors']:6d}")


def run_service_bench(json_path: Path | None = None, *, workers: int = 1, loops: int = 4000, review_loops: int = 1000,
                      paced_loops: int = 400, processes: int = 8, postgres_url: str | None = None) -> dict:
    """Run the service bench; returns (and writes to `json_path`) the figures."""
    import signal

    import boto3

    # Stopped with SIGTERM: still stop the service, moto and the client processes (the finally blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    postgres_url = postgres_url if postgres_url is not None else os.environ.get("HUMAN_REVIEW_TEST_POSTGRES_URL")
    per_phase = {n: (max(1, loops // 4) if n == 1 else loops) for n in CALLERS}
    results = []
    with tempfile.TemporaryDirectory(prefix="hr-service-bench-") as tmp, ExitStack() as stack:
        pipelines = Path(tmp) / "pipelines"
        pipelines.mkdir()
        _write_pipelines(pipelines, _flow_names(CALLERS))
        s3_port = _free_port()
        s3_url = f"http://127.0.0.1:{s3_port}"
        moto = str(Path(sys.executable).with_name("moto_server"))
        stack.enter_context(_process([moto, "-H", "127.0.0.1", "-p", str(s3_port)], s3_url, "moto's S3 server"))
        boto3.client("s3", endpoint_url=s3_url, region_name=REGION, aws_access_key_id=KEY,
                     aws_secret_access_key=KEY).create_bucket(Bucket=BUCKET)
        databases = [("sqlite", f"sqlite:///{tmp}/review-service.sqlite")]
        if postgres_url:
            databases.append(("postgresql", stack.enter_context(_postgres_schema(postgres_url))))
        else:
            print("HUMAN_REVIEW_TEST_POSTGRES_URL is not set: SQLite only", flush=True)
        for label, db_url in databases:
            print(f"benchmarking the review service on {label} ({workers} worker(s))...", flush=True)
            results.append(_bench_database(label, db_url, pipelines=pipelines, s3_url=s3_url, workers=workers,
                                           loops=per_phase, review_loops=review_loops, paced_loops=paced_loops,
                                           processes=processes))
    report = {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2), "results": results}
    print()
    _print_table(results)
    if json_path is not None:
        Path(json_path).write_text(json.dumps(report, indent=2))
        print(f"\nwrote {json_path}")
    return report


__all__ = ["run_service_bench"]
