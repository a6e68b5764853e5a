"""Drive `human-review up` from the outside, as a person at the UI would but over HTTP.

`running_up()` starts `human-review up` (the dev package's command: moto S3 with the sample photos,
then `airflow standalone` with this project's dags and plugins) in its own process, waits for the
``up.json`` it writes once everything answers, and stops it with SIGTERM (its Ctrl-C) at the end.
`sign_in()` checks the review queue demands an Airflow login; `smoke()` triggers every review DAG
through the REST API, answers the tasks in the review queue as the signed-in user and waits for the
runs, the report pages and the training exports: scheduler, executor, triggerer and plugins for real.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import httpx

DAGS = {"human_review_content_moderation": "content-moderation", "human_review_object_detection": "object-detection"}


@dataclass
class Up:
    proc: subprocess.Popen
    info: dict[str, Any]  # up.json: airflow_url, s3_endpoint_url, bucket, keys, passwords_file, ...
    log_path: Path

    @property
    def base(self) -> str:
        return self.info["airflow_url"]

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def passwords(self) -> dict[str, str]:
        return json.loads(Path(self.info["passwords_file"]).read_text())

    def s3_client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.info["s3_endpoint_url"], region_name=self.info["region"],
                            aws_access_key_id=self.info["access_key"], aws_secret_access_key=self.info["secret_key"])


def _stop(proc: subprocess.Popen, timeout: float = 120.0) -> None:
    """SIGTERM to `human-review up` (it stops the standalone's process tree, then moto); if it does
    not finish in time, end it and whatever it started, by pid."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
        return
    except subprocess.TimeoutExpired:
        pass
    import psutil

    try:
        parent = psutil.Process(proc.pid)
        family = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for p in family:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=10)


@contextmanager
def running_up(port: int, home: Path, *, cwd: Path, env: dict[str, str], timeout: float = 900.0) -> Iterator[Up]:
    """`human-review up --port PORT --home HOME` until the block ends; its output goes to HOME/../up.log."""
    home.mkdir(parents=True, exist_ok=True)
    log_path = home.parent / "up.log"
    state = home / "up.json"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "human_review.cli", "up", "--port", str(port), "--home", str(home)],
            cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout
        while not state.exists():
            if proc.poll() is not None:
                raise RuntimeError(f"human-review up exited with {proc.returncode}:\n"
                                   f"{log_path.read_text(errors='replace')[-4000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"human-review up not ready in {timeout:.0f} s:\n"
                                   f"{log_path.read_text(errors='replace')[-4000:]}")
            time.sleep(1)
        yield Up(proc=proc, info=json.loads(state.read_text()), log_path=log_path)
    finally:
        _stop(proc)


@dataclass
class SignIn:
    signed_out_status: int  # GET /review/worker/ without a login
    token: str | None
    page_ok: bool  # the queue page, with the user's name on it, with a token


def sign_in(up: Up) -> SignIn:
    """The review queue answers through the api-server and demands an Airflow login."""
    signed_out = httpx.get(f"{up.base}/review/worker/", timeout=60).status_code
    user, password = sorted(up.passwords().items())[0]
    r = httpx.post(f"{up.base}/auth/token", json={"username": user, "password": password}, timeout=60)
    if r.status_code not in (200, 201):
        return SignIn(signed_out, None, False)
    token = r.json()["access_token"]
    page = httpx.get(f"{up.base}/review/worker/", headers={"Authorization": f"Bearer {token}"}, timeout=60)
    return SignIn(signed_out, token, page.status_code == 200 and "Queues" in page.text and user in page.text)


@dataclass
class SmokeResult:
    states: dict[str, str | None] = field(default_factory=dict)       # dag_id -> run state
    deferred: set[str] = field(default_factory=set)                   # dag_ids whose wait deferred
    summaries: dict[str, dict | None] = field(default_factory=dict)  # dag_id -> the run's summary.json
    answers: int = 0                                                   # submitted in the review queue
    reports_signed_out: int | None = None                              # GET /review-reports/ without login
    reports_lists_pipelines: bool = False
    html_reports_only_signed_in: bool = False
    exports: dict[str, str | None] = field(default_factory=dict)      # training-export dag_id -> state


def _read_json(s3, bucket: str, key: str) -> dict:
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def smoke(up: Up, token: str, timeout: float = 600.0, say=print) -> SmokeResult:
    """Trigger every review DAG through the REST API, answer its tasks in the review queue as the
    signed-in Airflow user, and wait for the runs, the report pages and the training exports."""
    from human_review_dev.reviewers import SimulatedReviewers

    base, bucket, s3 = up.base, up.info["bucket"], up.s3_client()
    headers = {"Authorization": f"Bearer {token}"}
    api = httpx.Client(base_url=f"{base}/api/v2", headers=headers, timeout=120)
    result = SmokeResult()
    runs = {}
    for dag_id in DAGS:
        deadline = time.monotonic() + 120
        while api.get(f"/dags/{dag_id}").status_code != 200:  # the dag-processor has not parsed it yet
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id} never appeared in the REST API")
            time.sleep(2)
        for _attempt in range(5):  # SQLite under standalone can be busy: try again, as a person would
            r = api.post(f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": {"all_in_prefix": True}})
            if r.status_code < 500:
                break
            time.sleep(2)
        r.raise_for_status()
        runs[dag_id] = r.json()["dag_run_id"]
        say(f"smoke: triggered {dag_id} ({runs[dag_id]})")
    # reviewers take a few seconds per task, so the wait really defers to the triggerer
    with SimulatedReviewers(f"{base}/review", list(DAGS.values()), auth_headers=headers, delay_seconds=4) as reviewers:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(result.states.get(d) not in ("success", "failed") for d in runs):
            for dag_id, run_id in runs.items():
                result.states[dag_id] = api.get(f"/dags/{dag_id}/dagRuns/{run_id}").json()["state"]
                ti = api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/wait_for_reviews")
                if ti.status_code == 200 and ti.json().get("state") == "deferred":
                    result.deferred.add(dag_id)
            time.sleep(1)
    result.answers = reviewers.answered
    for dag_id, pipeline in DAGS.items():
        summary = None
        if result.states.get(dag_id) == "success":
            latest = _read_json(s3, bucket, f"human-review/reports/{pipeline}/latest.json")
            summary = _read_json(s3, bucket, latest["summary"].removeprefix(f"s3://{bucket}/"))
        result.summaries[dag_id] = summary
        say(f"smoke: {dag_id} {result.states.get(dag_id)}; wait_for_reviews deferred: {dag_id in result.deferred}; "
            f"report: {summary and summary['status_counts']}")
    say(f"smoke: {result.answers} answers submitted through {base}/review as the Airflow user")
    # the "Review reports" page, inside the api-server, behind Airflow's auth
    result.reports_signed_out = httpx.get(f"{base}/review-reports/", timeout=120).status_code
    page = httpx.get(f"{base}/review-reports/", headers=headers, timeout=120)
    result.reports_lists_pipelines = page.status_code == 200 and all(p in page.text for p in DAGS.values())
    result.html_reports_only_signed_in = all(result.summaries.values())
    for pipeline in DAGS.values():
        if not result.html_reports_only_signed_in:
            break
        latest = _read_json(s3, bucket, f"human-review/reports/{pipeline}/latest.json")
        url = f"{base}/review-reports/{pipeline}/{latest['run_key']}/report.html"
        result.html_reports_only_signed_in = (httpx.get(url, headers=headers, timeout=120).status_code == 200
                                              and httpx.get(url, timeout=120).status_code in (401, 403))
    # each report's Asset event schedules the pipeline's training export
    for pipeline in DAGS.values():
        export_id = f"human_review_training_export_{pipeline.replace('-', '_')}"
        state, deadline = None, time.monotonic() + 120
        while state not in ("success", "failed") and time.monotonic() < deadline:
            listed = api.get(f"/dags/{export_id}/dagRuns", params={"order_by": "-run_after", "limit": 1}).json()
            state = (listed.get("dag_runs") or [{}])[0].get("state")
            time.sleep(2)
        result.exports[export_id] = state
        say(f"smoke: {export_id} (scheduled on the report asset) {state}")
    return result
