"""Issue 9: the review service's lifecycle without writes on reads (deadlines decide, a background
sweep writes them down), the open-loop count behind the quota, and `portal --workers N`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import httpx
import pytest
import sqlalchemy as sa
import yaml
from botocore.config import Config
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

from human_review import config  # noqa: E402
from human_review.portal.app import create_app  # noqa: E402
from human_review.portal.server import serve_in_thread  # noqa: E402
from human_review.portal.settings import PortalSettings  # noqa: E402
from human_review.portal.store import human_loops, task_slots  # noqa: E402
from human_review.portal.workers import WorkersConfigError, prepare_workers  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("review_service_lifecycle")]


class OffsetClock:
    """Real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def write_pipeline(directory: Path, name: str, **flow) -> None:
    raw = yaml.safe_load((config.PIPELINES_DIR / "content_moderation.yaml").read_text())
    raw["pipeline"] = name
    fd = raw["review"]["flow_definition"]
    fd.pop("arn", None)
    fd.update(name=name, **flow)
    (directory / f"{name.replace('-', '_')}.yaml").write_text(yaml.safe_dump(raw))


def arn(flow: str) -> str:
    return f"arn:aws:sagemaker:us-east-1:000000000000:flow-definition/{flow}"


def a2i_client(url: str):
    return boto3.client("sagemaker-a2i-runtime", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(retries={"total_max_attempts": 1}))


def start(a2i, flow: str, name: str | None = None) -> str:
    name = name or f"l-{uuid.uuid4().hex[:10]}"
    a2i.start_human_loop(HumanLoopName=name, FlowDefinitionArn=arn(flow),
                         HumanLoopInput={"InputContent": json.dumps({"taskObject": "s3://b/k.png", "n": name})})
    return name


def stored_status(engine, name: str) -> str:
    """The row as stored, read past the service."""
    with engine.connect() as conn:
        return conn.execute(sa.select(human_loops.c.status).where(human_loops.c.name == name)).scalar_one()


@pytest.fixture()
def pipelines(tmp_path) -> Path:
    d = tmp_path / "pipelines"
    d.mkdir()
    write_pipeline(d, "short-life", availability_lifetime_seconds=1)
    # Two answers per loop: one submit never completes a loop, so no output.json (no S3 here).
    write_pipeline(d, "day-life", availability_lifetime_seconds=86_400, time_limit_seconds=30, task_count=2)
    write_pipeline(d, "one-answer", output_path="s3://workers-test/a2i-output")
    write_pipeline(d, "quota-flow")
    return d


@pytest.fixture()
def service(tmp_path, pipelines):
    """A service of its own (no S3 needed): yields a factory of (url, ReviewService)."""
    started = []

    def make(**overrides):
        settings = PortalSettings(database_url=f"sqlite:///{tmp_path / f'db{len(started)}.sqlite'}",
                                  pipelines_dir=pipelines, aws_access_key_id="testing",
                                  aws_secret_access_key="testing",
                                  **{"allow_worker_id_header": True, "open_sign_in": True, **overrides})
        app = create_app(settings)
        srv = serve_in_thread(app)
        started.append((srv, app))
        return srv.url, app.state.review_service

    yield make
    for srv, app in started:
        srv.stop()
        app.state.review_service.close()


def test_background_sweep_expires_loops_without_any_read(service):
    url, svc = service(sweep_interval_seconds=0.2)
    name = start(a2i_client(url), "short-life")
    assert stored_status(svc.store.engine, name) == "InProgress"
    # Nobody reads the loop: only the background sweep can write its expiry down.
    deadline = time.monotonic() + 10
    while stored_status(svc.store.engine, name) != "Failed" and time.monotonic() < deadline:
        time.sleep(0.1)
    with svc.store.engine.connect() as conn:
        row = conn.execute(sa.select(human_loops).where(human_loops.c.name == name)).one()
    assert (row.status, row.failure_code) == ("Failed", "Expired")
    assert a2i_client(url).describe_human_loop(HumanLoopName=name)["HumanLoopStatus"] == "Failed"


def test_read_at_expiry_computes_status_from_the_deadline_without_writing(service):
    clock = OffsetClock()
    url, svc = service(sweep_interval_seconds=0, clock=clock)  # no background sweep at all
    a2i = a2i_client(url)
    name = start(a2i, "day-life")
    with httpx.Client(base_url=url, headers={"X-Worker-Id": "alice"}) as alice:
        task = alice.post("/worker/api/queues/day-life/claim").json()
        clock.advance(86_400)  # exactly the availability lifetime: expired
        d = a2i.describe_human_loop(HumanLoopName=name)
        assert (d["HumanLoopStatus"], d["FailureCode"]) == ("Failed", "Expired")
        listed = a2i.list_human_loops(FlowDefinitionArn=arn("day-life"))["HumanLoopSummaries"]
        assert [(s["HumanLoopName"], s["HumanLoopStatus"]) for s in listed] == [(name, "Failed")]
        assert alice.post("/worker/api/queues/day-life/claim").status_code == 204
        late = alice.post(f"/worker/api/tasks/{task['taskId']}/submit", json={"answerContent": {"x": 1}})
        assert late.status_code in (404, 409)
        queues = {q["flowDefinitionName"]: q for q in alice.get("/worker/api/queues").json()["queues"]}
        assert queues["day-life"]["inProgressLoops"] == 0 and queues["day-life"]["available"] == 0
    # The reads wrote nothing; the sweep writes it down.
    assert stored_status(svc.store.engine, name) == "InProgress"
    assert svc.store.sweep() == {"expired": 1, "stopped": 0, "released": 1}
    assert stored_status(svc.store.engine, name) == "Failed"
    with svc.store.engine.connect() as conn:
        tokens = conn.execute(sa.select(task_slots.c.claim_token).where(task_slots.c.loop_name == name)).scalars().all()
    assert tokens == [None, None]
    a2i.delete_human_loop(HumanLoopName=name)


def test_lapsed_claim_frees_the_slot_and_the_same_worker_may_claim_again(service):
    clock = OffsetClock()
    url, svc = service(sweep_interval_seconds=0, clock=clock)
    name = start(a2i_client(url), "day-life")
    with httpx.Client(base_url=url, headers={"X-Worker-Id": "alice"}) as alice:
        first = alice.post("/worker/api/queues/day-life/claim").json()
        # A claim still held comes back on the next claim (a reload), not a second slot.
        assert alice.post("/worker/api/queues/day-life/claim").json()["taskId"] == first["taskId"]
        clock.advance(31)  # the time limit is 30 s; no sweep has run
        again = alice.post("/worker/api/queues/day-life/claim").json()
        assert again["humanLoopName"] == name and again["taskId"] != first["taskId"]
        assert alice.post(f"/worker/api/tasks/{first['taskId']}/release").status_code == 404
        ok = alice.post(f"/worker/api/tasks/{again['taskId']}/submit", json={"answerContent": {"ok": True}})
        assert ok.status_code == 200 and ok.json()["answers"] == 1


def test_quota_counts_open_loops_exactly_near_the_limit(service):
    url, _svc = service(max_in_flight_loops=3, sweep_interval_seconds=0)
    a2i = a2i_client(url)
    names = [start(a2i, "quota-flow") for _ in range(3)]
    with pytest.raises(ClientError) as e:
        start(a2i, "quota-flow")
    assert e.value.response["Error"]["Code"] == "ServiceQuotaExceededException"
    # A retry of a loop that exists is still answered at the quota.
    start(a2i, "quota-flow", names[0])
    # A stopped loop frees its place at once (no cached count hides it).
    a2i.stop_human_loop(HumanLoopName=names[1])
    start(a2i, "quota-flow")
    with pytest.raises(ClientError):
        start(a2i, "quota-flow")


def test_concurrent_starts_cannot_all_take_the_last_free_place(service):
    """Eight callers race for a quota of one: exactly one loop starts, the others get 402."""
    url, _svc = service(max_in_flight_loops=1, sweep_interval_seconds=0)
    a2i = a2i_client(url)

    def attempt(_):
        try:
            start(a2i, "quota-flow")
            return "started"
        except ClientError as e:
            return e.response["Error"]["Code"]

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    assert outcomes.count("started") == 1, outcomes
    assert outcomes.count("ServiceQuotaExceededException") == 7, outcomes


def test_workers_refuse_an_in_memory_database():
    with pytest.raises(WorkersConfigError, match="in memory"):
        prepare_workers(PortalSettings(database_url="sqlite://"), 2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_portal_with_two_workers_shares_one_sqlite_database(tmp_path, pipelines):
    import psutil
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, s3_port = moto.get_host_and_port()
    s3_url = f"http://{host}:{s3_port}"
    boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket="workers-test")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, HUMAN_REVIEW_PIPELINES_DIR=str(pipelines), AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing")
    env.pop("HUMAN_REVIEW_PORTAL_SECRET", None)
    env.update(HUMAN_REVIEW_PORTAL_ALLOW_WORKER_ID_HEADER="true", HUMAN_REVIEW_PORTAL_OPEN_SIGN_IN="true")  # tests only
    proc = subprocess.Popen(
        [sys.executable, "-m", "human_review.cli", "portal", "--workers", "2", "--port", str(port),
         "--db-url", f"sqlite:///{tmp_path / 'shared.sqlite'}", "--s3-endpoint-url", s3_url],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "the portal did not start"
            time.sleep(0.3)
        def workers() -> int:  # uvicorn's supervisor spawns the workers (beside multiprocessing's resource tracker)
            return sum("spawn_main" in " ".join(c.cmdline()) for c in psutil.Process(proc.pid).children())

        deadline = time.monotonic() + 60
        while workers() < 2 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert workers() == 2
        a2i = a2i_client(url)
        with ThreadPoolExecutor(8) as pool:
            names = set(pool.map(lambda _: start(a2i, "one-answer"), range(40)))
        listed = {s["HumanLoopName"] for p in a2i.get_paginator("list_human_loops").paginate(
            FlowDefinitionArn=arn("one-answer")) for s in p["HumanLoopSummaries"]}
        assert listed == names

        def review(worker: str) -> list[str]:
            done = []
            with httpx.Client(base_url=url, headers={"X-Worker-Id": worker}, timeout=30) as c:
                while (r := c.post("/worker/api/queues/one-answer/claim")).status_code == 200:
                    t = r.json()
                    s = c.post(f"/worker/api/tasks/{t['taskId']}/submit", json={"answerContent": {"by": worker}})
                    assert s.status_code == 200 and s.json()["answers"] == s.json()["taskCount"] == 1, s.text
                    done.append(t["humanLoopName"])
            return done

        with ThreadPoolExecutor(4) as pool:
            answered = [n for done in pool.map(review, ["w1", "w2", "w3", "w4"]) for n in done]
        assert sorted(answered) == sorted(names)  # every slot answered exactly once across both workers
        # output.json files are written in the background: every loop completes moments later
        deadline = time.monotonic() + 60
        while (statuses := {a2i.describe_human_loop(HumanLoopName=n)["HumanLoopStatus"] for n in names}) != {"Completed"}:
            assert time.monotonic() < deadline, statuses
            time.sleep(0.5)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        moto.stop()


def test_a_start_waiting_on_the_database_does_not_stall_other_requests(service, tmp_path):
    """The store runs off the event loop: while StartHumanLoop waits for a database lock another
    connection holds, the service still answers other requests."""
    import sqlite3
    import threading

    url, svc = service(sweep_interval_seconds=0)
    a2i = a2i_client(url)
    start(a2i, "day-life")  # the tables exist and the connection pool is warm
    blocker = sqlite3.connect(svc.store.engine.url.database, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")  # holds SQLite's write lock
    release = threading.Timer(8.0, blocker.rollback)
    release.start()
    result: dict = {}
    pending = threading.Thread(target=lambda: result.update(name=start(a2i, "day-life")))
    try:
        pending.start()
        time.sleep(0.5)  # the start is now waiting for the lock
        health = httpx.get(f"{url}/healthz", timeout=15)
        assert health.status_code == 200
        assert pending.is_alive(), "the start should still be waiting for the lock"
    finally:
        release.join()
        pending.join(30)
        blocker.close()
    assert a2i.describe_human_loop(HumanLoopName=result["name"])["HumanLoopStatus"] == "InProgress"


def test_a_stalled_s3_holds_up_no_reviewer_and_loses_no_answer(service):
    """The last answer's output.json is written in the background: with S3 accepting connections and
    never answering, the reviewer's submit and a Describe still answer (the loop reads InProgress);
    once S3 is back, the background sweep writes the file with the answer and the loop completes."""
    from moto.server import ThreadedMotoServer

    stalled = socket.socket()
    stalled.bind(("127.0.0.1", 0))
    stalled.listen(64)  # completes TCP handshakes, never reads a request
    port = stalled.getsockname()[1]
    url, svc = service(s3_endpoint_url=f"http://127.0.0.1:{port}", sweep_interval_seconds=0.2)
    a2i = boto3.client("sagemaker-a2i-runtime", endpoint_url=url, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing",
                       config=Config(retries={"total_max_attempts": 1}, read_timeout=20))
    name = start(a2i, "one-answer")
    with httpx.Client(base_url=url, headers={"X-Worker-Id": "w1"}, timeout=20) as c:
        task = c.post("/worker/api/queues/one-answer/claim").json()
        s = c.post(f"/worker/api/tasks/{task['taskId']}/submit", json={"answerContent": {"by": "w1"}})
    assert s.status_code == 200, s.text
    assert s.json() == {"humanLoopName": name, "humanLoopStatus": "InProgress", "answers": 1, "taskCount": 1}
    d = a2i.describe_human_loop(HumanLoopName=name)
    assert d["HumanLoopStatus"] == "InProgress" and "HumanLoopOutput" not in d
    assert svc.writer.pending() == 1  # the write is still stuck on the stalled S3

    stalled.close()  # resets the stalled connections; S3 comes back on the same port
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    try:
        boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                     aws_access_key_id="testing", aws_secret_access_key="testing").create_bucket(Bucket="workers-test")
        deadline = time.monotonic() + 60
        while (d := a2i.describe_human_loop(HumanLoopName=name))["HumanLoopStatus"] != "Completed":
            assert time.monotonic() < deadline, d
            time.sleep(0.2)
        bucket, _, key = d["HumanLoopOutput"]["OutputS3Uri"].removeprefix("s3://").partition("/")
        out = json.loads(boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                                      aws_access_key_id="testing", aws_secret_access_key="testing")
                         .get_object(Bucket=bucket, Key=key)["Body"].read())
        assert [a["answerContent"] for a in out["humanAnswers"]] == [{"by": "w1"}]
        assert svc.writer.drain(10) and svc.writer.pending() == 0
    finally:
        moto.stop()
