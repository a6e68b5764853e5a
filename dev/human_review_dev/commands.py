"""The `human-review` commands this package adds: `demo`, `up`, `bench`.

Registered in dev/pyproject.toml under the entry-point group ``human_review.commands``; each entry
is a function that takes the CLI's sub-parsers and adds one command to them (and sets ``func``, the
function that runs it). ``human_review.cli`` loads the group, so the library never names this
package. Keep the imports here light: they run on every `human-review` call.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _demo(args: argparse.Namespace) -> int:
    from human_review_dev.demo import run_demo

    return run_demo(Path(args.output), policy=args.policy, delay=args.delay, reviewers=args.reviewers)


def _up(args: argparse.Namespace) -> int:
    from human_review_dev.up import run_up

    return run_up(port=args.port, home=Path(args.home) if args.home else None, check=args.check, host=args.host)


def _bench(args: argparse.Namespace) -> int:
    if getattr(args, "service", False):
        return _bench_service(args)
    if args.images:  # the pipeline bench: the DAG under a real scheduler against the notebook loop
        from human_review_dev.bench.pipeline import run_bench as run_pipeline_bench

        result = run_pipeline_bench(
            images=args.images, json_path=Path(args.json) if args.json else None, latency_ms=args.latency_ms,
            fault_rate=args.fault_rate, broken_rate=args.broken_rate, parallelism=args.parallelism,
            concurrency=args.concurrency, rps=args.requests_per_second, batch_size=args.batch_size,
            metadata_db=args.metadata_db, workdir=Path(args.workdir) if args.workdir else None,
            skip_notebook=args.skip_notebook)
        return 0 if result["state"] == "success" else 1
    from human_review_dev.bench.service import run_bench

    return run_bench(repeats=args.repeats)


def add_demo(sub) -> None:
    p = sub.add_parser("demo", help="run the nightly review DAGs on local parts, end to end (dev package)")
    p.add_argument("--output", default="demo-output", help="where reports and logs go (default: demo-output)")
    p.add_argument("--policy", default="truth", choices=["truth", "agree", "correct", "mixed"],
                   help="how the simulated reviewers answer (default: truth, from the sample photos' answer key)")
    p.add_argument("--delay", type=float, default=0.3, help="seconds each simulated reviewer takes per task")
    p.add_argument("--reviewers", type=int, default=2, help="number of simulated reviewers")
    p.set_defaults(func=_demo)


def add_up(sub) -> None:
    p = sub.add_parser("up", help="interactive local stack: airflow standalone + local S3 + review queue "
                                  "(Ctrl-C stops; dev package)")
    p.add_argument("--port", type=int, default=8080, help="api-server port (default: 8080)")
    p.add_argument("--home", help="AIRFLOW_HOME (default: airflow-home/up, git-ignored)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address the api-server listens on (default: 127.0.0.1, this machine only; "
                        "0.0.0.0 opens the UI, the review queue and the runtime API to the network)")
    p.add_argument("--check", action="store_true",
                   help="start, check the review page answers through the api-server behind Airflow's login, stop")
    p.set_defaults(func=_up)


def add_bench(sub) -> None:
    p = sub.add_parser("bench", help="measure the local models, the activation conditions and the review service; "
                                     "with --images, the DAG against the notebook loop (dev package)")
    p.add_argument("--repeats", type=int, default=3)
    _add_service_bench_options(p)
    g = p.add_argument_group("pipeline bench (with --images): the DAG under Airflow's scheduler vs the notebook loop")
    g.add_argument("--images", type=int, help="generate N images in local S3 and run both sides over them")
    g.add_argument("--json", help="write the figures to this JSON file")
    g.add_argument("--latency-ms", type=float, default=20.0, help="the stand-in endpoint's latency (default: 20)")
    g.add_argument("--fault-rate", type=float, default=0.0, help="share of endpoint calls answered 500 (transient)")
    g.add_argument("--broken-rate", type=float, default=0.02, help="share of broken files (default: 0.02)")
    g.add_argument("--parallelism", type=int, default=4, help="LocalExecutor task slots = parallel batches (default: 4)")
    g.add_argument("--concurrency", type=int, default=8,
                   help="model.concurrency: threads per infer task (default: 8, as docs/backends.md suggests)")
    g.add_argument("--requests-per-second", type=float, help="the pipeline's limit across the run (default: none)")
    g.add_argument("--batch-size", type=int, help="images per batch (default: sized from the run)")
    g.add_argument("--metadata-db", default="sqlite",
                   help="'sqlite' (default) or a postgresql+psycopg:// URL: a fresh database is created next to it")
    g.add_argument("--workdir", help="logs, DBs and pipelines (default: bench-output/pipeline-N)")
    g.add_argument("--skip-notebook", action="store_true", help="run the DAG only")
    p.set_defaults(func=_bench)


# `human-review bench --service` (issue 9, the review service half): its own options, kept apart so
# the pipeline bench's options can grow next to them.
def _add_service_bench_options(p) -> None:
    g = p.add_argument_group("review service bench (--service)")
    g.add_argument("--service", action="store_true",
                   help="benchmark the review service in its own process: StartHumanLoop/s at 1, 8, 20 callers "
                        "and claim/submit p50/p99 with 20 reviewers, on SQLite and (HUMAN_REVIEW_TEST_POSTGRES_URL) "
                        "PostgreSQL")
    g.add_argument("--service-workers", type=int, default=1, help="`human-review portal --workers` (default: 1)")
    g.add_argument("--service-loops", type=int, default=4000,
                   help="loops started per caller count (default: 4000; a quarter with 1 caller)")
    g.add_argument("--service-review-loops", type=int, default=1000,
                   help="loops (one answer each) the 20 reviewers claim and submit flat out (default: 1000)")
    g.add_argument("--service-paced-loops", type=int, default=400,
                   help="loops the 20 reviewers claim and submit at a reviewer's pace, 1 s on each (default: 400)")
    g.add_argument("--service-json", help="write the service figures as JSON to this path")


def _bench_service(args: argparse.Namespace) -> int:
    from human_review_dev.bench.review_service import run_service_bench

    run_service_bench(Path(args.service_json) if args.service_json else None, workers=args.service_workers,
                      loops=args.service_loops, review_loops=args.service_review_loops,
                      paced_loops=args.service_paced_loops)
    return 0
