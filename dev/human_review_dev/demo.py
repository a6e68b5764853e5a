"""`make demo`: a real nightly review on local parts, from S3 to report, in one command.

Starts moto's S3 server and the local review service on free loopback ports, copies the sample
photos (and a few broken files) into s3://<bucket>/incoming/<date>/, runs each pipeline's DAG
for one logical date with dag.test() while simulated reviewers answer through the worker portal,
then copies the reports to local disk and prints a summary. Everything it starts, it stops.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
import time
from pathlib import Path


DEMO_BUCKET = "human-review-demo"
PIPELINES = (
    ("human_review_content_moderation", "content-moderation"),
    ("human_review_object_detection", "object-detection"),
)


def _configure_airflow(out: Path) -> Path:
    """A private Airflow under the output folder; must run before airflow is imported."""
    from human_review_dev.local_airflow import use_local_airflow

    home = use_local_airflow(out / "airflow-home")
    os.environ.update({"HUMAN_REVIEW_BUCKET": DEMO_BUCKET, "HUMAN_REVIEW_POLL_SECONDS": "1"})
    return home


def _route_logs_to_file(path: Path) -> None:
    """Task logs go to a file; the terminal shows the demo's own progress lines."""
    handler = logging.FileHandler(path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for noisy in ("werkzeug", "uvicorn.access", "botocore", "s3fs", "aiobotocore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        import structlog

        structlog.configure(
            logger_factory=structlog.WriteLoggerFactory(file=path.open("a")),
            processors=[structlog.processors.TimeStamper(fmt="iso"), structlog.dev.ConsoleRenderer(colors=False)],
        )
    except Exception:  # structlog's setup is Airflow's business; plain logging still goes to the file
        pass


def say(msg: str) -> None:
    print(msg, flush=True)


def _table(summaries: list[dict]) -> str:
    cols = [
        ("pipeline", lambda s: s["pipeline"]),
        ("images found", lambda s: s["images"]),
        ("auto-accepted", lambda s: s["status_counts"].get("auto_accepted", 0)),
        ("sent to review", lambda s: s["sent_to_review"]),
        ("reviewed", lambda s: s["status_counts"].get("reviewed", 0)),
        ("changed by people", lambda s: s["changed_by_reviewers"]),
        ("invalid", lambda s: s["status_counts"].get("invalid", 0)),
        ("inference failed", lambda s: s["status_counts"].get("inference_failed", 0)),
        ("expired/failed", lambda s: s["status_counts"].get("review_expired", 0) + s["status_counts"].get("review_failed", 0)),
    ]
    rows = [[str(f(s)) for _, f in cols] for s in summaries]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, (h, _) in enumerate(cols)]
    line = lambda cells: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line([h for h, _ in cols]), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def run_demo(out: Path = Path("demo-output"), *, policy: str = "truth", delay: float = 0.3, reviewers: int = 2) -> int:
    started = time.monotonic()
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    _configure_airflow(out)
    log_file = out / "demo.log"
    say(f"Human review demo: logs in {log_file}")

    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    from human_review_dev.stack import local_stack
    from human_review.naming import run_key
    from human_review_dev.samples import seed
    from human_review_dev.reviewers import SimulatedReviewers

    _route_logs_to_file(log_file)
    t = time.monotonic()
    db.resetdb()
    say(f"  Airflow metadata DB ready (SQLite)                      {time.monotonic() - t:5.1f}s")

    summaries: list[dict] = []
    with local_stack(out / "services", bucket=DEMO_BUCKET) as stack:
        os.environ.update(stack.env)
        say(f"  local S3 (moto server)        {stack.s3_endpoint_url}")
        say(f"  local review service (A2I)    {stack.review_url}   worker portal: {stack.review_url}/worker/")
        s3 = stack.s3_client()
        today = dt.datetime.now(dt.timezone.utc)
        prefix = f"incoming/{today:%Y-%m-%d}"
        keys = seed(s3, DEMO_BUCKET, prefix)
        say(f"  seeded {len(keys)} files (sample photos + broken files) into s3://{DEMO_BUCKET}/{prefix}/")
        # the data interval ending now holds what was just uploaded
        logical_date = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(seconds=1)
        bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
        if bag.import_errors:
            for file, err in bag.import_errors.items():
                say(f"  DAG import error in {file}: {err}")
            return 1
        for dag_id, pipeline in PIPELINES:
            dag = bag.dags[dag_id]
            flow = dag.get_task("wait_for_reviews").flow_definition_arn.rsplit("/", 1)[-1]
            t = time.monotonic()
            with SimulatedReviewers(stack.review_url, [flow], policy=policy, delay_seconds=delay, workers=reviewers) as sim:
                dag_run = dag.test(logical_date=logical_date)
            state = str(getattr(dag_run.state, "value", dag_run.state))
            say(f"  ran {dag_id} for {logical_date:%Y-%m-%d %H:%M:%S}Z: {state}, "
                f"{sim.answered} answers from simulated reviewers   {time.monotonic() - t:5.1f}s")
            if state != "success":
                say(f"  the run failed: see {log_file}")
                return 1
            run = run_key(logical_date, "")
            local_dir = out / "reports" / pipeline / run
            local_dir.mkdir(parents=True, exist_ok=True)
            report_prefix = f"human-review/reports/{pipeline}/{run}/"
            for obj in s3.list_objects_v2(Bucket=DEMO_BUCKET, Prefix=report_prefix).get("Contents", []):
                name = obj["Key"].rsplit("/", 1)[-1]
                (local_dir / name).write_bytes(s3.get_object(Bucket=DEMO_BUCKET, Key=obj["Key"])["Body"].read())
            summary = json.loads((local_dir / "summary.json").read_text())
            summary["local_dir"] = str(local_dir)
            summaries.append(summary)

    say("")
    say(_table(summaries))
    say("")
    for s in summaries:
        say(f"{s['pipeline']} report (copied from s3://{DEMO_BUCKET}/human-review/reports/):")
        for name in ("report.html", "report.parquet", "report.csv", "summary.json"):
            if (Path(s["local_dir"]) / name).exists():
                say(f"  {Path(s['local_dir']) / name}")
    say(f"\nDemo finished in {time.monotonic() - started:.0f}s; local services stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(run_demo())
