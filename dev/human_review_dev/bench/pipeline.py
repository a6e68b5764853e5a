"""`human-review bench --images N --json PATH`: the nightly DAG under a real scheduler and executor
against the notebook loop it replaces, on the same local services, in one run.

1. Local services, each in its own process: moto's S3 server, a stand-in SageMaker endpoint that
   sleeps `--latency-ms` and answers SSD JSON (endpoint.py), the local review service.
2. The dataset: N objects in local S3 (variants of the sample photos, plus `--broken-rate` broken
   files; dataset.py).
3. The baseline: AWS's notebook loop, sequential, in this process (notebook.py).
4. The DAG: `airflow scheduler`, `dag-processor`, `triggerer` and `api-server` as processes,
   LocalExecutor with `--parallelism` task slots on a fresh metadata DB (SQLite by default:
   tasks reach the DB only through the api-server in Airflow 3, so few processes write to it; or
   `--metadata-db postgresql+psycopg://...` for a fresh PostgreSQL database). One run triggered
   over the REST API, simulated reviewers answering its loops through the worker portal.

Client CPU: the baseline's is this process's CPU during the loop; the DAG's is every Airflow
process's CPU from the trigger to the run's end (tasks, and separately scheduler, api-server,
dag-processor and triggerer), sampled with psutil every `SAMPLE_S`. Loops, List and Describe
calls are counted from the review service's access log; accounting from the report's Parquet.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from human_review.config import PROJECT_ROOT
from human_review_dev.bench import dataset
from human_review_dev.bench.notebook import run_notebook_loop
from human_review_dev.bench.services import BIN, Processes, pid_env, processes, start_endpoint, start_moto, \
    start_review_service, wait_http, free_port
from human_review_dev.stack import ACCESS_KEY, SECRET_KEY, aws_connection

BUCKET = "human-review-bench"
PIPELINE = "bench"
NOTEBOOK_FLOW = "bench-notebook"
ENDPOINT = "bench-ssd"
DAG_ID = "human_review_bench"
SAMPLE_S = 0.25
# The run's state, over the REST API: one request per look, as the api-server's CPU counts as the
# DAG's (an observer that polled every 0.25 s once cost the api-server more than a second a run).
# The run's wall time comes from its end_date, not from when the bench looked.
POLL_S = 2.0
LOG_CLOCK_S = 0.1  # how often the review service's log lines are timestamped (it writes none)
CLASSES = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
           "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"]


def say(msg: str) -> None:
    print(msg, flush=True)


def pipeline_yaml(name: str, prefix: str, parallel: int, concurrency: int, rps: float | None,
                  batch_size: int | None) -> dict[str, Any]:
    source: dict[str, Any] = {"bucket": BUCKET, "prefix": prefix, "max_items": 1_000_000, "parallel_batches": parallel}
    if batch_size:
        source["batch_size"] = batch_size
    model: dict[str, Any] = {
        "backend": "sagemaker-endpoint",
        "options": {"endpoint_name": ENDPOINT, "content_type": "image/jpeg", "accept": "application/json",
                    "parser": "sagemaker-ssd", "min_score": 0.2, "class_names": CLASSES},
        "concurrency": concurrency, "retries": 4,
    }
    if rps:
        model["requests_per_second"] = rps
    return {
        "pipeline": name, "description": "The pipeline bench's DAG (human-review bench).", "schedule": None,
        "retries": 1, "retry_delay_seconds": 5, "aws_conn_id": "aws_default",
        "work_prefix": f"s3://{BUCKET}/human-review/work",
        "source": source, "model": model,
        "review": {
            "conditions": {"Conditions": [{"ConditionType": "DetectionConfidenceCheck",
                                           "ConditionParameters": {"DetectionLabelName": "*", "ConfidenceLessThan": 60}}]},
            "flow_definition": {"name": name, "output_path": f"s3://{BUCKET}/a2i-output",
                                "template": "bounding_boxes.liquid.html", "title": "Check the boxes",
                                "description": "Fix the boxes the model drew.", "time_limit_seconds": 900},
            "wait": {"poll_interval_seconds": 2, "timeout_seconds": 3600},
        },
        "report": {"prefix": f"s3://{BUCKET}/human-review/reports"},
    }


class LogClock:
    """When each line of a growing log was written, to within LOG_CLOCK_S: uvicorn's access log has
    no timestamps, and the bench splits it at the report task's start (route and wait before, the
    report after) without asking Airflow for the report's state many times a second."""

    def __init__(self, path: Path):
        self.path = path
        self.marks: list[tuple[float, int]] = []  # (time.time(), lines written by then)
        self._stop = threading.Event()
        self._file = path.open("rb")
        self._file.seek(0)
        self._lines = self._file.read().count(b"\n")
        self.start_line = self._lines
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _look(self) -> None:
        self._lines += self._file.read().count(b"\n")
        self.marks.append((time.time(), self._lines))

    def _run(self) -> None:
        while not self._stop.wait(LOG_CLOCK_S):
            self._look()

    def __enter__(self) -> LogClock:
        self._look()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._look()
        self._file.close()

    def lines_before(self, when: dt.datetime | None) -> int | None:
        """How many lines were surely written before `when` (None: no such time)."""
        if when is None:
            return None
        ts = when.timestamp()
        return max((n for t, n in self.marks if t <= ts), default=self.start_line)


class ProcessSampler:
    """CPU and RSS of every process under the given roots, sampled in a thread."""

    def __init__(self, roots: dict[str, int]):
        self.roots = roots
        self.cpu: dict[int, tuple[str, float, float]] = {}  # pid -> (kind, cpu at first sight, last cpu)
        self.peak_rss: dict[str, float] = {}
        self.task_rss: dict[str, float] = {}  # task instance id (the task process's title) -> peak RSS
        self.task_pids: dict[int, str] = {}  # task process pid -> its task instance id
        self._started = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def kind(title: str, root_name: str) -> str:
        if title.startswith("airflow worker --") and "Executor" not in title:
            return "task"  # the task runner (task_runner.py's process title)
        if title.startswith("airflow supervisor"):
            return "supervisor"  # the per-task supervisor process the executor forks
        return root_name

    def sample(self) -> None:
        import psutil

        for root_name, pid in self.roots.items():
            try:
                root = psutil.Process(pid)
                family = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            for p in family:
                try:
                    with p.oneshot():
                        t = p.cpu_times()
                        cpu = t.user + t.system
                        title = " ".join(p.cmdline()).strip()  # setproctitle pads
                        kind = self.kind(title, root_name)
                        rss = p.memory_info().rss / 2**20
                except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                    continue
                known = self.cpu.get(p.pid)
                if known is not None and not title:  # an exiting process's cmdline reads empty
                    # it stays what it was (a task's CPU went to the scheduler at its last look,
                    # about 15% of all task CPU)
                    kind = known[0]
                # A process born during the run counts from zero: its CPU before the first look is the run's too.
                first = (known or (kind, 0.0 if self._started else cpu, cpu))[1]
                self.cpu[p.pid] = (kind, first, cpu)
                self.peak_rss[kind] = max(self.peak_rss.get(kind, 0.0), rss)
                if kind == "task" and title:  # "airflow worker -- <task instance id>"
                    ti_id = title.rsplit(" ", 1)[-1]
                    self.task_rss[ti_id] = max(self.task_rss.get(ti_id, 0.0), rss)
                    self.task_pids[p.pid] = ti_id

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(SAMPLE_S)

    def start(self) -> None:
        self.sample()
        # processes alive at the start count from now: their CPU so far was start-up, not this run
        self._started = True
        self._thread.start()

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        self.sample()
        by_kind: Counter[str] = Counter()
        for kind, first, last in self.cpu.values():
            by_kind[kind] += last - first
        return dict(by_kind)


def _airflow_env(home: Path, pipelines: Path, port: int, conn: dict, parallelism: int, metadata_db: str) -> dict:
    from human_review_dev.local_airflow import local_airflow_env

    env = pid_env()
    env.update(local_airflow_env(home))
    if metadata_db != "sqlite":
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = metadata_db
        env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS", None)
    base = f"http://127.0.0.1:{port}"
    env.update({
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONPATH": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(max(16, parallelism)),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": base,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": "human-review-bench-" + str(os.getpid()),
        # the DAG files do not change during a bench: no re-parse every 30 s competing for the CPU
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(conn),
        "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1",
        "HUMAN_REVIEW_PIPELINES_DIR": str(pipelines),
    })
    return env


def _fresh_postgres(url: str, name: str) -> str:
    """A new database for this bench on the PostgreSQL server of `url`; returns its URL."""
    import psycopg

    admin = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + "/" + name


def _access_counts(log: Path, first: int = 0, last: int | None = None) -> dict[str, int]:
    """A2I calls in the review service's access log (uvicorn: `"GET /human-loops?... HTTP/1.1" 200`),
    lines [first, last)."""
    counts: Counter[str] = Counter()
    for line in log.read_text(errors="replace").splitlines()[first:last]:
        if '"GET /human-loops?' in line:
            counts["list"] += 1
            if "NextToken" not in line:
                counts["list_first_pages"] += 1
        elif '"GET /human-loops/' in line:
            counts["describe"] += 1
        elif '"POST /human-loops ' in line:
            counts["start"] += 1
    return dict(counts)


def _loops_in_store(db: Path, flow: str) -> tuple[int, int]:
    """(loops, loops whose image already had one) of a flow definition, from the service's SQLite."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT input_content FROM human_loops WHERE flow_definition_name = ?", (flow,)).fetchall()
    keys = [json.loads(r[0]).get("objectKey") or json.loads(r[0]).get("taskObject") for r in rows]
    return len(keys), len(keys) - len(set(keys))


def _task_instances(api: httpx.Client, run_id: str) -> list[dict[str, Any]]:
    out, offset = [], 0
    while True:
        page = api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 100, "offset": offset}).json()
        out += page["task_instances"]
        offset += len(page["task_instances"])
        if not page["task_instances"] or offset >= page["total_entries"]:
            return out


def _seconds(ti: dict[str, Any]) -> float:
    if ti.get("duration") is not None:
        return float(ti["duration"])
    return 0.0


def _manifests(s3, prefix: str) -> tuple[int, int]:
    """(manifests, largest manifest in bytes) under the run's work prefix."""
    sizes = [o["Size"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
             for o in page.get("Contents", []) if o["Key"].endswith("manifest.json")]
    return len(sizes), max(sizes, default=0)


def run_dag(procs: Processes, workdir: Path, *, conn: dict, pipelines: Path, parallelism: int, metadata_db: str,
            review_url: str, images: int, timeout: float) -> dict[str, Any]:
    from human_review_dev.reviewers import SimulatedReviewers

    home = workdir / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    if metadata_db.startswith("postgresql"):
        metadata_db = _fresh_postgres(metadata_db, f"hr_bench_{os.getpid()}")
    env = _airflow_env(home, pipelines, port, conn, parallelism, metadata_db)
    procs.env = env
    t = time.perf_counter()
    migrate = procs.start("airflow-db-migrate", [str(BIN / "airflow"), "db", "migrate"])
    if migrate.wait(timeout=600) != 0:
        raise RuntimeError(f"airflow db migrate failed; see {procs.log('airflow-db-migrate')}")
    say(f"  metadata DB migrated in {time.perf_counter() - t:.0f} s ({'SQLite' if metadata_db == 'sqlite' else 'PostgreSQL'})")
    roots = {}
    for component in ("api-server", "scheduler", "dag-processor", "triggerer"):
        roots[component] = procs.start(f"airflow-{component}", [str(BIN / "airflow"), component]).pid
    base = f"http://127.0.0.1:{port}"
    api = httpx.Client(base_url=f"{base}/api/v2", timeout=60)
    wait_http(f"{base}/api/v2/monitor/health", procs.procs[-4][1], procs.log("airflow-api-server"), 240)
    deadline = time.monotonic() + 240
    while api.get(f"/dags/{DAG_ID}").status_code != 200:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{DAG_ID} was not parsed within 240 s; see {procs.log('airflow-dag-processor')}")
        time.sleep(1)
    # The task execution API is built on its first request (Cadwyn's versioned routes): once per
    # api-server, which in a deployment runs for weeks, not once per nightly run. Build it now, so
    # that the run's api-server CPU is the run's requests.
    httpx.get(f"{base}/execution/health", timeout=120).raise_for_status()
    say(f"  Airflow up ({parallelism} task slots, LocalExecutor); triggering {DAG_ID}")
    sampler = ProcessSampler(roots)
    review_log = procs.log("review-service")
    with SimulatedReviewers(review_url, [PIPELINE], policy="agree", workers=4, poll_seconds=0.2) as reviewers, \
            LogClock(review_log) as log_clock:
        sampler.start()
        t0, t0_wall = time.perf_counter(), time.time()
        r = api.post(f"/dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": {}})
        r.raise_for_status()
        run_id = r.json()["dag_run_id"]
        state = "queued"
        while state not in ("success", "failed"):
            if time.perf_counter() - t0 > timeout:
                raise TimeoutError(f"the DAG run did not finish within {timeout:.0f} s (state {state})")
            time.sleep(POLL_S)
            reviewers.raise_if_refused()
            run = api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}").json()
            state = run["state"]
        cpu = sampler.stop()
        answered = len(reviewers.submissions)
    # from the trigger to the run's end as Airflow recorded it, not to the bench's next look
    wall = dt.datetime.fromisoformat(run["end_date"]).timestamp() - t0_wall if run.get("end_date") else \
        time.perf_counter() - t0
    tis = _task_instances(api, run_id)
    rss_by_task: dict[str, float] = {}  # which task peaks: task_id -> the largest of its instances
    for ti in tis:
        if ti.get("id") in sampler.task_rss:
            rss_by_task[ti["task_id"]] = max(rss_by_task.get(ti["task_id"], 0.0), sampler.task_rss[ti["id"]])
    task_of = {ti.get("id"): ti["task_id"] for ti in tis}
    cpu_by_task: Counter[str] = Counter()  # task_id -> CPU seconds of all its instances' task processes
    for pid, ti_id in sampler.task_pids.items():
        if ti_id in task_of:  # not the training export DAG's task, which the report's Asset triggers
            _kind, first, last = sampler.cpu[pid]
            cpu_by_task[task_of[ti_id]] += last - first
    by_task: dict[str, list[dict]] = {}
    for ti in tis:
        by_task.setdefault(ti["task_id"], []).append(ti)
    # the service's log lines written before the report task started are route's and the wait's
    report_starts = [dt.datetime.fromisoformat(ti["start_date"]) for ti in by_task.get("report", []) if ti.get("start_date")]
    report_line = log_clock.lines_before(min(report_starts)) if report_starts else None
    stage_s = {}
    for task_id, group in by_task.items():
        starts = [dt.datetime.fromisoformat(ti["start_date"]) for ti in group if ti.get("start_date")]
        ends = [dt.datetime.fromisoformat(ti["end_date"]) for ti in group if ti.get("end_date")]
        stage_s[task_id] = round((max(ends) - min(starts)).total_seconds(), 2) if starts and ends else None
    return {
        "state": state, "run_id": run_id, "wall_s": wall, "cpu_s": cpu,
        "task_instances": len(tis),
        "task_states": dict(Counter(ti["state"] for ti in tis)),
        "stage_s": stage_s,
        "report_s": round(sum(_seconds(ti) for ti in by_task.get("report", [])), 2),
        "peak_rss_mb": sampler.peak_rss,
        "peak_rss_mb_by_task": rss_by_task,
        "task_cpu_s_by_task": dict(cpu_by_task),
        "answers": answered,
        "metadata_db": "sqlite" if metadata_db == "sqlite" else "postgresql",
        "calls_before_report": _access_counts(review_log, log_clock.start_line, report_line),
        "calls_in_report": _access_counts(review_log, report_line if report_line is not None else log_clock.start_line),
    }


def run_bench(*, images: int, json_path: Path | None, latency_ms: float = 20.0, fault_rate: float = 0.0,
              broken_rate: float = 0.02, flag_rate: float = 0.05, parallelism: int = 4, concurrency: int = 8,
              rps: float | None = None, batch_size: int | None = None, metadata_db: str = "sqlite",
              workdir: Path | None = None, skip_notebook: bool = False, timeout: float = 7200) -> dict[str, Any]:
    import boto3
    import yaml

    from human_review.naming import loop_prefix, run_key

    workdir = (workdir or PROJECT_ROOT / "bench-output" / f"pipeline-{images}").resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    pipelines = workdir / "pipelines"
    pipelines.mkdir(exist_ok=True)
    prefix = f"incoming/{dt.datetime.now(dt.timezone.utc):%Y-%m-%d}/"
    (pipelines / "bench.yaml").write_text(
        yaml.safe_dump(pipeline_yaml(PIPELINE, prefix, parallelism, concurrency, rps, batch_size), sort_keys=False))
    (pipelines / "bench_notebook.yaml").write_text(
        yaml.safe_dump(pipeline_yaml(NOTEBOOK_FLOW, prefix, parallelism, concurrency, rps, batch_size), sort_keys=False))
    review_db = workdir / "review-service.sqlite"
    review_db.unlink(missing_ok=True)
    base_env = pid_env()
    base_env.update({"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                     "AWS_DEFAULT_REGION": "us-east-1", "HUMAN_REVIEW_PIPELINES_DIR": str(pipelines),
                     "HUMAN_REVIEW_BUCKET": BUCKET, "HUMAN_REVIEW_PORTAL_MAX_IN_FLIGHT": "10000000"})
    out: dict[str, Any] = {"images": images, "latency_ms": latency_ms, "fault_rate": fault_rate,
                           "broken_rate": broken_rate, "parallelism": parallelism, "concurrency": concurrency}
    with processes(workdir / "logs", base_env) as procs:
        s3_url = start_moto(procs)
        procs.env = {**base_env, "HUMAN_REVIEW_S3_ENDPOINT_URL": s3_url}
        endpoint_url = start_endpoint(procs, latency_ms, fault_rate, flag_rate)
        review_url = start_review_service(procs, f"sqlite:///{review_db}")
        say(f"services: S3 {s3_url}, endpoint {endpoint_url} ({latency_ms:g} ms), review service {review_url}")

        def client(service: str, url: str, pool: int = 10):
            from botocore.config import Config

            return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
                                aws_secret_access_key=SECRET_KEY, config=Config(max_pool_connections=pool))

        s3 = client("s3", s3_url, 32)
        s3.create_bucket(Bucket=BUCKET)
        t = time.perf_counter()
        keys = dataset.upload(s3, BUCKET, prefix, images, broken_rate)
        say(f"dataset: {len(keys)} objects under s3://{BUCKET}/{prefix} in {time.perf_counter() - t:.0f} s")

        if not skip_notebook:
            say("baseline: the notebook loop (sequential) ...")
            nb = run_notebook_loop(
                client("s3", s3_url), client("sagemaker-runtime", endpoint_url), client("sagemaker-a2i-runtime", review_url),
                bucket=BUCKET, prefix=prefix, endpoint=ENDPOINT,
                flow_arn=f"arn:aws:sagemaker:us-east-1:000000000000:flow-definition/{NOTEBOOK_FLOW}")
            out.update(baseline_wall_s=round(nb["wall_s"], 2), baseline_images=nb["images"],
                       baseline_loops_started=nb["loops_started"], baseline_errors=nb["errors"],
                       baseline_client_cpu_ms_per_image=round(nb["cpu_s"] * 1000 / max(1, nb["images"]), 3))
            say(f"  {nb['images']} images in {nb['wall_s']:.1f} s, {nb['loops_started']} loops")

        conn = aws_connection("us-east-1", {"s3": s3_url, "sagemaker-runtime": endpoint_url,
                                            "sagemaker-a2i-runtime": review_url})
        say("the DAG under Airflow's scheduler and LocalExecutor ...")
        dag = run_dag(procs, workdir, conn=conn, pipelines=pipelines, parallelism=parallelism, metadata_db=metadata_db,
                      review_url=review_url, images=images, timeout=timeout)
        procs.stop(("airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"))

        # accounting: the report's rows against the objects discovered (every key under the prefix)
        import pandas as pd

        rk = run_key(None, dag["run_id"])
        report_key = f"human-review/reports/{PIPELINE}/{rk}/report.parquet"
        try:
            body = s3.get_object(Bucket=BUCKET, Key=report_key)["Body"].read()
            rows = pd.read_parquet(io.BytesIO(body), columns=["object_key", "status"])
        except Exception as e:  # noqa: BLE001 - a failed run has no report: say so in the figures
            say(f"  no report at s3://{BUCKET}/{report_key}: {e}")
            rows = pd.DataFrame({"object_key": [], "status": []})
        counts = Counter(rows["object_key"])
        accounted = sum(1 for k in keys if counts.get(k) == 1)
        manifests, largest = _manifests(s3, f"human-review/work/{PIPELINE}/{rk}/")
        loops, duplicates = _loops_in_store(review_db, PIPELINE)
        calls = _access_counts(procs.log("review-service"))  # both sides
        wait_calls = dag["calls_before_report"]  # the DAG's route and wait
        report_calls = dag["calls_in_report"]
        task_cpu = dag["cpu_s"].get("task", 0.0)
        all_cpu = sum(dag["cpu_s"].values())
        polls = max(1, wait_calls.get("list_first_pages", 0))
        out.update({
            "wall_s": round(dag["wall_s"], 2),
            "images_per_s": round(images / dag["wall_s"], 1),
            "speedup": round(out["baseline_wall_s"] / dag["wall_s"], 2) if "baseline_wall_s" in out else None,
            "state": dag["state"],
            "metadata_db": dag["metadata_db"],
            "task_instances": dag["task_instances"],
            "task_states": dag["task_states"],
            "stage_s": dag["stage_s"],
            "report_s": dag["report_s"],
            "manifests": manifests, "largest_manifest_bytes": largest,
            "loops_started": loops, "duplicate_loops": duplicates, "answers": dag["answers"],
            "accounted": accounted, "report_rows": int(len(rows)), "discovered": len(keys),
            "status_counts": dict(Counter(rows["status"])),
            "client_cpu_ms_per_image": round(all_cpu * 1000 / images, 3),
            "task_cpu_ms_per_image": round(task_cpu * 1000 / images, 3),
            "supervisor_cpu_ms_per_image": round(dag["cpu_s"].get("supervisor", 0.0) * 1000 / images, 3),
            "airflow_cpu_s": {k: round(v, 2) for k, v in dag["cpu_s"].items()},
            "peak_rss_mb": round(dag["peak_rss_mb"].get("task", 0.0), 1),
            "peak_rss_mb_by_process": {k: round(v, 1) for k, v in dag["peak_rss_mb"].items()},
            "peak_rss_mb_by_task": {k: round(v, 1) for k, v in dag["peak_rss_mb_by_task"].items()},
            "task_cpu_s_by_task": {k: round(v, 2) for k, v in dag["task_cpu_s_by_task"].items()},
            "list_calls": wait_calls.get("list", 0), "polls": wait_calls.get("list_first_pages", 0),
            "list_calls_per_poll": round(wait_calls.get("list", 0) / polls, 2),
            # route and wait (the report reads each completed loop's output location with one describe)
            "describe_calls": wait_calls.get("describe", 0),
            "report_describe_calls": report_calls.get("describe", 0),
            "start_calls": calls.get("start", 0), "dag_start_calls": wait_calls.get("start", 0),
            "loop_prefix": loop_prefix(PIPELINE, rk),
        })
    print_table(out)
    if json_path:
        Path(json_path).write_text(json.dumps(out, indent=1, sort_keys=True))
        say(f"figures written to {json_path}")
    return out


def print_table(r: dict[str, Any]) -> None:
    rows = [
        ("images", f"{r['images']:,} ({r['broken_rate']:.0%} broken), endpoint latency {r['latency_ms']:g} ms"),
        ("notebook loop", f"{r.get('baseline_wall_s', 'not run')} s"),
        ("this DAG (scheduler + LocalExecutor)", f"{r['wall_s']} s ({r['state']}), {r['images_per_s']} images/s"),
        ("speedup", f"{r['speedup']}x" if r.get("speedup") else "n/a"),
        ("stages (first start to last end, s)", ", ".join(f"{k} {v}" for k, v in r["stage_s"].items())),
        ("task instances", f"{r['task_instances']} ({r['manifests']} batches; largest manifest "
                           f"{r['largest_manifest_bytes'] / 1024:.0f} KB)"),
        ("loops started / duplicates", f"{r['loops_started']} / {r['duplicate_loops']} "
                                       f"(the DAG's StartHumanLoop calls {r['dag_start_calls']}, "
                                       f"Describe {r['describe_calls']} before the report, {r['report_describe_calls']} in it)"),
        ("accounted", f"{r['accounted']:,} of {r['discovered']:,} discovered, {r['report_rows']:,} report rows"),
        ("client CPU ms/image", f"notebook {r.get('baseline_client_cpu_ms_per_image', 'n/a')}, DAG {r['client_cpu_ms_per_image']} "
                                f"(tasks alone {r['task_cpu_ms_per_image']})"),
        ("task CPU by task (s)", ", ".join(f"{k} {v:.1f}" for k, v in r.get("task_cpu_s_by_task", {}).items())),
        ("peak task RSS", f"{r['peak_rss_mb']} MB (" + ", ".join(
            f"{k} {v:.0f}" for k, v in sorted(r.get("peak_rss_mb_by_task", {}).items())) + ")"),
        ("ListHumanLoops per poll", f"{r['list_calls_per_poll']} ({r['list_calls']} calls, {r['polls']} polls)"),
        ("report task", f"{r['report_s']} s"),
    ]
    width = max(len(k) for k, _ in rows)
    print()
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print(flush=True)
