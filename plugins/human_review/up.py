"""`make up` / `human-review up`: a local interactive stack for a person.

Starts moto's S3 server (in this process) with the sample photos, then `airflow standalone`
(scheduler, dag-processor, triggerer, api-server; SQLite; AIRFLOW_HOME under the git-ignored
``airflow-home/up``) with this project's dags and plugins. The review service runs inside the
api-server at ``/review`` (``plugins/review_portal_plugin.py``), so reviewers sign in with their
Airflow login and find "Review queue" in the UI's navigation. The pipeline's AWS connection
points S3 at moto and A2I at ``http://127.0.0.1:<port>/review`` (SigV4, key testing/testing).

Ctrl-C stops everything: the standalone's children by pid, then the standalone, then moto.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx

from human_review.config import PROJECT_ROOT
from human_review.local_airflow import local_airflow_env
from human_review.local_stack import ACCESS_KEY, SECRET_KEY, aws_connection

BUCKET = "human-review-demo"
USERS = "admin:admin,reviewer:viewer"


def say(msg: str) -> None:
    print(msg, flush=True)


def _stop_tree(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """Stop a process we started and all its descendants, by pid (SIGINT does nothing to standalone)."""
    import psutil

    try:
        parent = psutil.Process(proc.pid)
        children = parent.children(recursive=True)
    except psutil.NoSuchProcess:
        return
    for p in [parent, *children]:
        try:
            p.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _gone, alive = psutil.wait_procs([parent, *children], timeout=timeout)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)


def _wait_http(url: str, timeout: float, proc: subprocess.Popen, ok=lambda r: r.status_code == 200) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"airflow standalone exited with code {proc.returncode}; see its log")
        try:
            r = httpx.get(url, timeout=3)
            if ok(r):
                return r
            last = f"HTTP {r.status_code}"
        except httpx.HTTPError as e:
            last = type(e).__name__
        time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s ({last})")


DAGS = {"human_review_content_moderation": "content-moderation", "human_review_object_detection": "object-detection"}


def _smoke(base: str, token: str, s3, timeout: float) -> bool:
    """Trigger every review DAG through the REST API, answer its tasks in the review queue as the
    signed-in Airflow user, and wait for the runs: scheduler, executor, triggerer and plugin for real."""
    from human_review.simulated_reviewers import SimulatedReviewers

    headers = {"Authorization": f"Bearer {token}"}
    api = httpx.Client(base_url=f"{base}/api/v2", headers=headers, timeout=30)
    runs = {}
    for dag_id in DAGS:
        deadline = time.monotonic() + 120
        while api.get(f"/dags/{dag_id}").status_code != 200:  # the dag-processor has not parsed it yet
            if time.monotonic() > deadline:
                say(f"smoke: {dag_id} never appeared")
                return False
            time.sleep(2)
        for attempt in range(5):  # SQLite under standalone can be busy: try again, as a person would
            r = api.post(f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": {"all_in_prefix": True}})
            if r.status_code < 500:
                break
            time.sleep(2)
        r.raise_for_status()
        runs[dag_id] = r.json()["dag_run_id"]
        say(f"smoke: triggered {dag_id} ({runs[dag_id]})")
    states: dict[str, str] = {}
    seen_deferred: set[str] = set()
    # reviewers take a few seconds per task, so the wait really defers to the triggerer
    with SimulatedReviewers(f"{base}/review", list(DAGS.values()), auth_headers=headers, delay_seconds=4) as reviewers:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(states.get(d) not in ("success", "failed") for d in runs):
            for dag_id, run_id in runs.items():
                states[dag_id] = api.get(f"/dags/{dag_id}/dagRuns/{run_id}").json()["state"]
                ti = api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/wait_for_reviews")
                if ti.status_code == 200 and ti.json().get("state") == "deferred":
                    seen_deferred.add(dag_id)
            time.sleep(1)
    ok = True
    for dag_id, run_id in runs.items():
        summary = None
        if states.get(dag_id) == "success":
            latest = json.loads(s3.get_object(Bucket=BUCKET, Key=f"human-review/reports/{DAGS[dag_id]}/latest.json")["Body"].read())
            key = latest["summary"].removeprefix(f"s3://{BUCKET}/")
            summary = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        say(f"smoke: {dag_id} {states.get(dag_id)}; wait_for_reviews deferred: {dag_id in seen_deferred}; "
            f"report: {summary and summary['status_counts']}")
        ok &= states.get(dag_id) == "success" and summary is not None and summary["images"] > 0
    say(f"smoke: {reviewers.answered} answers submitted through {base}/review as the Airflow user")
    # the "Review reports" page, inside the api-server, behind Airflow's auth
    signed_out = httpx.get(f"{base}/review-reports/", timeout=30).status_code
    page = httpx.get(f"{base}/review-reports/", headers=headers, timeout=30)
    reports_ok = signed_out in (401, 403) and page.status_code == 200 and all(p in page.text for p in DAGS.values())
    html_ok = False
    for dag_id, pipeline in DAGS.items():
        latest = json.loads(s3.get_object(Bucket=BUCKET, Key=f"human-review/reports/{pipeline}/latest.json")["Body"].read())
        url = f"{base}/review-reports/{pipeline}/{latest['run_key']}/report.html"
        html_ok = httpx.get(url, headers=headers, timeout=30).status_code == 200 and httpx.get(url, timeout=30).status_code in (401, 403)
        if not html_ok:
            break
    say(f"smoke: Review reports page: signed out -> HTTP {signed_out}; signed in lists both pipelines: "
        f"{page.status_code == 200 and reports_ok}; HTML reports open only when signed in: {html_ok}")
    ok &= reports_ok and html_ok
    # each report's Asset event schedules the pipeline's training export
    for dag_id, pipeline in DAGS.items():
        export_id = f"human_review_training_export_{pipeline.replace('-', '_')}"
        state, deadline = None, time.monotonic() + 120
        while state not in ("success", "failed") and time.monotonic() < deadline:
            listed = api.get(f"/dags/{export_id}/dagRuns", params={"order_by": "-run_after", "limit": 1}).json()
            state = (listed.get("dag_runs") or [{}])[0].get("state")
            time.sleep(2)
        say(f"smoke: {export_id} (scheduled on the report asset) {state}")
        ok &= state == "success"
    return ok and reviewers.answered > 0 and bool(seen_deferred)


def run_up(*, port: int = 8080, home: Path | None = None, check: bool = False, smoke: bool = False,
           timeout: float = 180.0) -> int:
    from moto.server import ThreadedMotoServer

    import boto3

    from human_review import samples

    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request
    home = (home or PROJECT_ROOT / "airflow-home" / "up").resolve()
    home.mkdir(parents=True, exist_ok=True)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    proc: subprocess.Popen | None = None
    try:
        host, moto_port = moto.get_host_and_port()
        s3_url = f"http://{host}:{moto_port}"
        s3 = boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1",
                          aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
        s3.create_bucket(Bucket=BUCKET)
        prefix = f"incoming/{datetime.now(timezone.utc):%Y-%m-%d}/"
        keys = samples.seed(s3, BUCKET, prefix)
        say(f"local S3 (moto)   {s3_url}   {len(keys)} sample files in s3://{BUCKET}/{prefix}")

        base = f"http://127.0.0.1:{port}"
        conn = aws_connection("us-east-1", {"s3": s3_url, "sagemaker-a2i-runtime": f"{base}/review"})
        env = dict(os.environ)
        env.update(local_airflow_env(home))
        env.update({
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": USERS,
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": base,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(conn),
            "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1",
            "HUMAN_REVIEW_BUCKET": BUCKET,
            "HUMAN_REVIEW_POLL_SECONDS": "5",
            # the review service inside the api-server
            "HUMAN_REVIEW_S3_ENDPOINT_URL": s3_url,
            "HUMAN_REVIEW_PORTAL_DB_URL": f"sqlite:///{home / 'review-service.sqlite'}",
            "HUMAN_REVIEW_PORTAL_SECRET": "local-up-" + str(os.getpid()),
        })
        env.pop("AWS_PROFILE", None)
        log_path = home / "standalone.log"
        say(f"starting airflow standalone (AIRFLOW_HOME={home}; log: {log_path}) ... about 30-60 s")
        with log_path.open("ab") as log:
            proc = subprocess.Popen([str(Path(sys.executable).parent / "airflow"), "standalone"], env=env,
                                    stdout=log, stderr=subprocess.STDOUT, cwd=str(home), start_new_session=True)
        _wait_http(f"{base}/api/v2/monitor/health", timeout, proc)
        r = _wait_http(f"{base}/review/healthz", 60, proc)
        flows = r.json().get("flowDefinitions")
        unauth = httpx.get(f"{base}/review/worker/", timeout=10)
        pw_file = home / "simple_auth_manager_passwords.json.generated"
        passwords = json.loads(pw_file.read_text()) if pw_file.exists() else {}
        say("")
        say(f"Airflow UI        {base}/   (DAGs human_review_content_moderation, human_review_object_detection)")
        say(f"Review queue      {base}/review/worker/   (also in the UI's navigation; flows: {', '.join(flows or [])})")
        say(f"A2I runtime API   {base}/review   (SigV4, access key {ACCESS_KEY} / secret {SECRET_KEY})")
        for user, pw in sorted(passwords.items()):
            say(f"login             {user} / {pw}")
        if not passwords:
            say(f"login             see {pw_file}")
        say("Trigger a DAG with 'Ignore the data interval' checked, review the flagged images in the queue, watch the run finish.")
        if check or smoke:
            # The review page answers through the api-server and demands an Airflow login.
            token_ok = False
            if passwords:
                user, pw = sorted(passwords.items())[0]
                t = httpx.post(f"{base}/auth/token", json={"username": user, "password": pw}, timeout=10)
                if t.status_code in (200, 201):
                    page = httpx.get(f"{base}/review/worker/", headers={"Authorization": f"Bearer {t.json()['access_token']}"}, timeout=10)
                    token_ok = page.status_code == 200 and "Queues" in page.text and user in page.text
            say(f"check: /review/worker/ without login -> HTTP {unauth.status_code}; with a token -> {'OK' if token_ok else 'FAILED'}")
            if not (token_ok and unauth.status_code == 401):
                return 1
            if smoke and not _smoke(base, t.json()["access_token"], s3, timeout=300):
                return 1
            return 0
        say("Ctrl-C stops everything.")
        while proc.poll() is None:
            time.sleep(1)
        say(f"airflow standalone exited with code {proc.returncode}; see {log_path}")
        return 1
    except KeyboardInterrupt:
        say("\nstopping ...")
        return 0
    finally:
        if proc is not None:
            _stop_tree(proc)
        moto.stop()
        say("stopped.")
