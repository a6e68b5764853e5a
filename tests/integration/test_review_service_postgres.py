"""The review service on PostgreSQL: 20 reviewers claim from 200 loops at once; every slot is
answered exactly once, no worker answers a loop twice. Latency figures go to test-artifacts/."""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

from human_review_dev.stack import local_stack  # noqa: E402
from human_review.portal.store import human_loops, task_slots  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.xdist_group("review_service_postgres")]

LOOPS, REVIEWERS, TASK_COUNT = 200, 20, 2


def test_twenty_reviewers_two_hundred_loops(tmp_path, postgres_url):
    import yaml

    from human_review import config

    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    raw = yaml.safe_load((config.PIPELINES_DIR / "content_moderation.yaml").read_text())
    raw["pipeline"] = "pg-load"
    raw["review"]["flow_definition"].update(name="pg-load", task_count=TASK_COUNT)
    raw["review"]["flow_definition"].pop("arn", None)
    (pipelines / "pg_load.yaml").write_text(yaml.safe_dump(raw))
    flow_arn = "arn:aws:sagemaker:us-east-1:000000000000:flow-definition/pg-load"

    with local_stack(tmp_path / "stack", pipelines_dir=pipelines, database_url=postgres_url) as stack:
        a2i = stack.a2i_client()
        names = [f"pg-{i:03d}-{uuid.uuid4().hex[:6]}" for i in range(LOOPS)]
        t0 = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda n: a2i.start_human_loop(
                HumanLoopName=n, FlowDefinitionArn=flow_arn,
                HumanLoopInput={"InputContent": json.dumps({"taskObject": f"s3://{stack.bucket}/{n}.png", "n": n})}), names))
        start_seconds = time.perf_counter() - t0

        claims: list[float] = []
        submits: list[float] = []
        answered: list[tuple[str, str]] = []
        errors: list[str] = []
        lock = threading.Lock()
        barrier = threading.Barrier(REVIEWERS)

        def reviewer(i: int) -> None:
            worker = f"reviewer-{i:02d}"
            with httpx.Client(base_url=stack.review_url, headers={"X-Worker-Id": worker}, timeout=60) as c:
                barrier.wait()
                while True:
                    t = time.perf_counter()
                    r = c.post("/worker/api/queues/pg-load/claim")
                    dt_claim = time.perf_counter() - t
                    if r.status_code == 204:
                        return
                    if r.status_code != 200:
                        with lock:
                            errors.append(f"{worker} claim: {r.status_code} {r.text[:200]}")
                        return
                    task = r.json()
                    t = time.perf_counter()
                    s = c.post(f"/worker/api/tasks/{task['taskId']}/submit", json={"answerContent": {"by": worker}})
                    dt_submit = time.perf_counter() - t
                    with lock:
                        claims.append(dt_claim)
                        submits.append(dt_submit)
                        if s.status_code == 200:
                            answered.append((task["humanLoopName"], worker))
                        else:
                            errors.append(f"{worker} submit: {s.status_code} {s.text[:200]}")

        t0 = time.perf_counter()
        threads = [threading.Thread(target=reviewer, args=(i,)) for i in range(REVIEWERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        review_seconds = time.perf_counter() - t0

        assert not errors, errors[:5]
        assert len(answered) == LOOPS * TASK_COUNT
        assert len(set(answered)) == len(answered)  # no worker answered a loop twice
        per_loop: dict[str, set[str]] = {}
        for loop, worker in answered:
            per_loop.setdefault(loop, set()).add(worker)
        assert set(per_loop) == set(names) and all(len(w) == TASK_COUNT for w in per_loop.values())

        # In the database: every slot answered exactly once, every loop Completed with its output.json.
        import sqlalchemy as sa

        service = stack.review_server._server.config.app.state.review_service
        assert service.writer.drain(60)  # output.json files are written in the background
        engine = service.store.engine
        with engine.begin() as conn:
            slots = conn.execute(sa.select(task_slots.c.loop_name, task_slots.c.worker_id, task_slots.c.submitted_at)).all()
            statuses = dict(conn.execute(sa.select(human_loops.c.name, human_loops.c.status)).all())
        assert len(slots) == LOOPS * TASK_COUNT and all(s.submitted_at is not None for s in slots)
        assert set(statuses.values()) == {"Completed"}
        d = a2i.describe_human_loop(HumanLoopName=names[0])
        bucket, _, key = d["HumanLoopOutput"]["OutputS3Uri"].removeprefix("s3://").partition("/")
        out = json.loads(stack.s3_client().get_object(Bucket=bucket, Key=key)["Body"].read())
        assert len(out["humanAnswers"]) == TASK_COUNT
        assert len({a["workerId"] for a in out["humanAnswers"]}) == TASK_COUNT

    def pct(values: list[float], p: float) -> float:
        values = sorted(values)
        return round(values[min(len(values) - 1, int(p * len(values)))] * 1000, 1)

    figures = {
        "database": "postgresql",
        "loops": LOOPS, "reviewers": REVIEWERS, "task_count": TASK_COUNT,
        "start_200_loops_seconds": round(start_seconds, 2),
        "review_seconds": round(review_seconds, 2),
        "slots_per_second": round(LOOPS * TASK_COUNT / review_seconds, 1),
        "claim_ms": {"p50": pct(claims, 0.5), "p95": pct(claims, 0.95), "max": pct(claims, 1.0),
                     "mean": round(statistics.mean(claims) * 1000, 1)},
        "submit_ms": {"p50": pct(submits, 0.5), "p95": pct(submits, 0.95), "max": pct(submits, 1.0),
                      "mean": round(statistics.mean(submits) * 1000, 1)},
    }
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "review-service-postgres-concurrency.json").write_text(json.dumps(figures, indent=2))
    print("\nreview service on PostgreSQL:", json.dumps(figures))
