"""The distributed deployment, for real: Airflow's api-server, scheduler, dag-processor, triggerer and
two Celery workers as separate processes sharing only PostgreSQL, Redis and object storage (moto's
server), with the review service on PostgreSQL (stack_harness.py starts them all and stops them by pid).

Both nightly DAGs are triggered through the REST API with the trigger form's parameters. While the
content-moderation run waits for people, its sensor is deferred to the triggerer (task state
`deferred`, a trigger row owned by the triggerer's job) and holds no worker slot: Celery reports both
workers idle, and the object-detection run's tasks run meanwhile on workers of concurrency 1. Then
simulated reviewers answer, both runs succeed, each report accounts for every seeded object exactly
once, and the tasks ran on both workers (each task instance's hostname, and the task logs in that
worker's own directory).

Needs HUMAN_REVIEW_TEST_POSTGRES_URL and HUMAN_REVIEW_TEST_REDIS_URL (`.ci/run` sets both); skips,
saying which is missing or unreachable, otherwise. `make stack-test` runs it alone.
"""

from __future__ import annotations

import csv
import io
import time
from datetime import datetime

import httpx
import pytest

from human_review_dev.airflow_procs import wait_until
from stack_harness import WORKERS, services_unreachable, distributed_stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.xdist_group("stack")]

MODERATION, DETECTION = "human_review_content_moderation", "human_review_object_detection"
FLOWS = {MODERATION: "content-moderation", DETECTION: "object-detection"}
TRIGGER_CLASS = "human_review.triggers.HumanLoopsTrigger"


def say(msg: str) -> None:
    print(msg, flush=True)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    reason = services_unreachable()
    if reason:
        pytest.skip(reason)
    with distributed_stack(tmp_path_factory.mktemp("stack"), say=say) as s:
        yield s


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def test_distributed_stack(stack):
    t0 = time.monotonic()
    api = httpx.Client(base_url=f"{stack.airflow_url}/api/v2", timeout=30,
                       headers={"Authorization": f"Bearer {stack.token()}"})
    watched = list(stack.by_name.values())
    try:
        for dag_id in FLOWS:
            wait_until(f"{dag_id} parsed by the dag-processor", lambda: api.get(f"/dags/{dag_id}").status_code == 200,
                       240, watched, interval=2)
        # nothing scheduled by itself: HUMAN_REVIEW_START_DATE keeps the latest interval from running
        assert api.get(f"/dags/{MODERATION}/dagRuns").json()["total_entries"] == 0

        # as the trigger form does: "Source prefix" and "Ignore the data interval"
        conf = {"prefix": stack.prefix, "all_in_prefix": True}
        runs = {}

        def trigger(dag_id):
            r = api.post(f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})
            assert r.status_code == 200, r.text
            runs[dag_id] = r.json()["dag_run_id"]
            say(f"stack: triggered {dag_id} run {runs[dag_id]}")

        def wait_ti(dag_id):
            return api.get(f"/dags/{dag_id}/dagRuns/{runs[dag_id]}/taskInstances/wait_for_reviews")

        def deferred(dag_id):
            run = api.get(f"/dags/{dag_id}/dagRuns/{runs[dag_id]}").json()
            assert run["state"] != "failed", f"{dag_id} failed before its wait deferred\n{stack.logs()}"
            ti = wait_ti(dag_id)
            return ti.json() if ti.status_code == 200 and ti.json()["state"] == "deferred" else None

        trigger(MODERATION)
        moderation_wait = wait_until("the moderation run's wait_for_reviews deferred", lambda: deferred(MODERATION),
                                     600, watched, interval=1)
        deferred_since = _ts(moderation_wait.get("end_date")) or _ts(moderation_wait.get("start_date"))
        t_deferred = time.monotonic() - t0

        # the trigger row belongs to the triggerer's job
        import psycopg

        def trigger_rows():
            with psycopg.connect(stack.airflow_db_url) as db:
                rows = db.execute("SELECT t.id, t.classpath, j.job_type, j.hostname FROM trigger t "
                                  "JOIN job j ON j.id = t.triggerer_id").fetchall()
            return [r for r in rows if r[1] == TRIGGER_CLASS]

        rows = wait_until("the trigger row assigned to the triggerer", trigger_rows, 120, watched)
        assert {(r[2], r[3]) for r in rows} == {("TriggererJob", "triggerer")}, rows

        # no worker slot held while the sensor waits: Celery's own view of both workers. The Celery task
        # that deferred ends a moment after the state says `deferred`, so allow it that moment.
        def idle_while_deferred():
            active = stack.active_on_workers()
            assert set(active) == set(stack.worker_names.values()), active  # both workers answer
            return (active if all(tasks == [] for tasks in active.values())
                    and wait_ti(MODERATION).json()["state"] == "deferred" else None)

        wait_until("both Celery workers idle while the wait is deferred", idle_while_deferred, 60, watched)

        # ... and another DAG's tasks run meanwhile, on workers of concurrency 1
        trigger(DETECTION)
        moderation_states = set()

        def detection_deferred():
            moderation_states.add(wait_ti(MODERATION).json()["state"])
            return deferred(DETECTION)

        wait_until("the detection run's wait_for_reviews deferred", detection_deferred, 600, watched, interval=1)
        moderation_states.add(wait_ti(MODERATION).json()["state"])
        assert moderation_states == {"deferred"}, moderation_states
        wait_until("both Celery workers idle while both waits are deferred",
                   lambda: idle_while_deferred() and wait_ti(DETECTION).json()["state"] == "deferred", 60, watched)
        detection_tis = api.get(f"/dags/{DETECTION}/dagRuns/{runs[DETECTION]}/taskInstances").json()["task_instances"]
        ran_meanwhile = [ti for ti in detection_tis if ti["task_id"] in ("discover", "infer", "route")]
        assert ran_meanwhile and all(ti["state"] == "success" and _ts(ti["start_date"]) >= deferred_since
                                     for ti in ran_meanwhile), ran_meanwhile
        t_both_waiting = time.monotonic() - t0

        # people answer (simulated reviewers, through the review service's worker portal)
        from human_review_dev.reviewers import SimulatedReviewers

        states = {}

        def finished():
            reviewers.raise_if_refused()
            for dag_id, run_id in runs.items():
                states[dag_id] = api.get(f"/dags/{dag_id}/dagRuns/{run_id}").json()["state"]
            return all(s in ("success", "failed") for s in states.values())

        with SimulatedReviewers(stack.review_url, list(FLOWS.values()), delay_seconds=0.2) as reviewers:
            wait_until("both runs finished", finished, 900, watched, interval=2)
        assert states == {MODERATION: "success", DETECTION: "success"}, (states, stack.logs())
        assert reviewers.answered > 0 and not reviewers.errors, reviewers.errors
        t_done = time.monotonic() - t0

        # every seeded object in each report exactly once
        s3 = stack.s3()
        ran_on: dict[str, set[str]] = {}
        table = []
        for dag_id, run_id in runs.items():
            xcom = api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/report/xcomEntries/return_value")
            assert xcom.status_code == 200, xcom.text
            summary = xcom.json()["value"]
            assert summary["images"] == len(stack.keys), summary
            bucket, key = summary["files"]["csv"].removeprefix("s3://").split("/", 1)
            rows_csv = list(csv.DictReader(io.StringIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode())))
            assert sorted(r["object_key"] for r in rows_csv) == sorted(stack.keys)
            assert all(r["status"] for r in rows_csv)

            tis = api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances").json()["task_instances"]
            for ti in tis:
                assert ti["state"] == "success", ti
                assert ti["hostname"] in WORKERS, ti  # every task ran on a Celery worker, none elsewhere
                ran_on.setdefault(ti["hostname"], set()).add(f"{dag_id}.{ti['task_id']}")
                label = ti["task_id"] + (f"[{ti['map_index']}]" if ti["map_index"] >= 0 else "")
                table.append((FLOWS[dag_id], label, ti["hostname"], ti["try_number"]))
            say(f"stack: {dag_id}: {summary['status_counts']}")
        assert set(ran_on) == set(WORKERS), ran_on  # both workers ran tasks

        # each worker's own directory holds the logs of the tasks it ran (nothing shared on disk)
        for worker, tasks in ran_on.items():
            logged = set()
            for path in (stack.by_name[worker].cwd / "logs").rglob("attempt=*.log"):
                parts = {part.split("=", 1)[0]: part.split("=", 1)[1] for part in path.parts if "=" in part}
                logged.add(f"{parts.get('dag_id')}.{parts.get('task_id')}")
            assert tasks <= logged, (worker, tasks - logged)

        # the triggerer ran each run's trigger: their logs are in the triggerer's own directory only
        # (<ti log>.trigger.<triggerer job id>.log), none in a worker's
        def trigger_logs(component):
            return {path for path in (stack.by_name[component].cwd / "logs").rglob("*.trigger.*.log")
                    if "task_id=wait_for_reviews" in str(path) and path.stat().st_size > 0}

        in_triggerer = trigger_logs("triggerer")
        assert {dag_id for dag_id in runs if any(f"dag_id={dag_id}" in str(p) for p in in_triggerer)} == set(runs), \
            sorted(map(str, in_triggerer))
        assert not any(trigger_logs(worker) for worker in WORKERS)

        say(f"stack: started in {stack.started_in:.0f} s; moderation wait deferred after {t_deferred:.0f} s; "
            f"detection ran and deferred by {t_both_waiting:.0f} s; both runs done {t_done:.0f} s after the first "
            f"trigger; {reviewers.answered} answers")
        say("stack: which process ran what")
        say(f"  triggerer: trigger {rows[0][0]} ({TRIGGER_CLASS}) of {MODERATION}, and the detection run's; "
            f"their logs: {', '.join(p.name for p in sorted(in_triggerer))}")
        for pipeline, label, host, tries in sorted(table):
            say(f"  {host:9} {pipeline:19} {label} (try {tries})")
    finally:
        api.close()
