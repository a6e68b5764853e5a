"""The distributed stack, without Docker: the commands of docker-compose.yaml as separate processes.

moto's S3 server, the review service (`human-review portal`) on PostgreSQL, and Airflow with the
CeleryExecutor: `airflow db migrate`, api-server, scheduler, dag-processor, triggerer and two Celery
workers (concurrency 1 each). Every process has its own working directory and AIRFLOW_HOME: they
share nothing but PostgreSQL (a fresh database per run, dropped at the end), Redis (a queue of this
run's own) and object storage. Everything started here is stopped by pid, also when a test fails.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse, urlunparse

import httpx

from human_review_dev.airflow_procs import Proc, Processes, airflow, free_port, wait_http, wait_until

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "human-review-stack"
REGION = "us-east-1"
KEY = "testing"
WORKERS = ("worker-a", "worker-b")


def services_unreachable() -> str | None:
    """Why the stack cannot run here (None: it can): the services CI provides, named by env vars."""
    pg, redis_url = os.environ.get("HUMAN_REVIEW_TEST_POSTGRES_URL"), os.environ.get("HUMAN_REVIEW_TEST_REDIS_URL")
    if not pg or not redis_url:
        missing = [n for n, v in (("HUMAN_REVIEW_TEST_POSTGRES_URL", pg), ("HUMAN_REVIEW_TEST_REDIS_URL", redis_url))
                   if not v]
        return (f"distributed stack test skipped: {' and '.join(missing)} not set (.ci/run sets both; "
                "`make stack-test` uses this machine's PostgreSQL and Redis)")
    try:
        import psycopg

        psycopg.connect(pg, connect_timeout=3).close()
    except Exception as e:
        return f"distributed stack test skipped: PostgreSQL at {pg} unreachable ({type(e).__name__}: {e})"
    try:
        import redis

        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except Exception as e:
        return f"distributed stack test skipped: Redis at {redis_url} unreachable ({type(e).__name__}: {e})"
    return None


def _with_db(url: str, name: str, scheme: str) -> str:
    parts = urlparse(url)
    return urlunparse(parts._replace(scheme=scheme, path=f"/{name}"))


@contextmanager
def fresh_databases(admin_url: str, *names: str) -> Iterator[None]:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name in names:
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Stack:
    procs: Processes
    by_name: dict[str, Proc]
    airflow_url: str
    review_url: str
    s3_url: str
    airflow_db_url: str       # psycopg URL of this run's Airflow metadata database
    redis_url: str
    queue: str
    worker_names: dict[str, str]  # hostname (what task instances report) -> Celery worker name
    password: str
    keys: list[str]           # the seeded objects
    prefix: str
    started_in: float         # seconds from nothing to every component healthy
    timings: dict[str, float] = field(default_factory=dict)

    def s3(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.s3_url, region_name=REGION,
                            aws_access_key_id=KEY, aws_secret_access_key=KEY)

    def token(self) -> str:
        r = httpx.post(f"{self.airflow_url}/auth/token", json={"username": "admin", "password": self.password},
                       timeout=30)
        r.raise_for_status()
        return r.json()["access_token"]

    def celery(self):
        from celery import Celery

        return Celery("hr-stack-probe", broker=self.redis_url)

    def active_on_workers(self) -> dict[str, list]:
        """Celery's own view: the tasks each of our workers is executing right now."""
        inspect = self.celery().control.inspect(destination=list(self.worker_names.values()), timeout=5)
        return inspect.active() or {}

    def logs(self) -> str:
        return "\n".join(f"==== {p.name} (pid {p.pid}, {p.cwd})\n{p.output(2500)}" for p in self.procs.procs)


def _airflow_env(base: dict[str, str], home: Path, **extra: str) -> dict[str, str]:
    env = dict(base)
    env["AIRFLOW_HOME"] = str(home)
    env.update(extra)
    return env


@contextmanager
def distributed_stack(root: Path, say=print) -> Iterator[Stack]:
    t0 = time.monotonic()
    admin_url = os.environ["HUMAN_REVIEW_TEST_POSTGRES_URL"]
    redis_url = os.environ["HUMAN_REVIEW_TEST_REDIS_URL"]
    run = secrets.token_hex(4)
    airflow_db, review_db = f"hr_stack_{run}", f"hr_stack_{run}_review"
    timings: dict[str, float] = {}
    with fresh_databases(admin_url, airflow_db, review_db), Processes(root) as procs:
        by_name: dict[str, Proc] = {}
        bin_dir = Path(sys.executable).parent
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "HUMAN_REVIEW", "AWS_"))}
        base.update({"PATH": f"{bin_dir}{os.pathsep}{base.get('PATH', '')}", "PYTHONUNBUFFERED": "1",
                     "AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": KEY, "AWS_DEFAULT_REGION": REGION,
                     "HUMAN_REVIEW_BUCKET": BUCKET})

        # object storage: moto's server in its own process
        s3_port = free_port()
        s3_url = f"http://127.0.0.1:{s3_port}"
        by_name["s3"] = procs.start("s3", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)],
                                    env=base)
        wait_http(f"{s3_url}/moto-api/", 60, by_name["s3"])
        import boto3

        s3 = boto3.client("s3", endpoint_url=s3_url, region_name=REGION, aws_access_key_id=KEY,
                          aws_secret_access_key=KEY)
        s3.create_bucket(Bucket=BUCKET)
        from human_review_dev.samples import seed

        prefix = f"incoming/stack-{run}/"
        keys = seed(s3, BUCKET, prefix)

        # the review service (A2I's runtime API) on PostgreSQL
        review_port = free_port()
        review_url = f"http://127.0.0.1:{review_port}"
        by_name["review-service"] = procs.start("review-service", [
            str(bin_dir / "human-review"), "portal", "--host", "127.0.0.1", "--port", str(review_port),
            "--db-url", _with_db(admin_url, review_db, "postgresql+psycopg"), "--s3-endpoint-url", s3_url,
        ], env={**base, "HUMAN_REVIEW_PORTAL_OPEN_SIGN_IN": "true"})  # name-only sign-in: simulated reviewers
        wait_http(f"{review_url}/healthz", 120, by_name["review-service"])
        timings["s3 + review service"] = time.monotonic() - t0

        # Airflow: one configuration, one AIRFLOW_HOME per component
        api_port = free_port()
        airflow_url = f"http://127.0.0.1:{api_port}"
        db_url = _with_db(admin_url, airflow_db, "postgresql+psycopg")
        queue = f"hr_stack_{run}"
        password = secrets.token_urlsafe(12)
        passwords_file = root / "simple_auth_manager_passwords.json"
        passwords_file.write_text(json.dumps({"admin": password}))
        from human_review_dev.stack import aws_connection

        common = dict(base)
        common.update({
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "human_review_dev.airflow_procs.hostname",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{airflow_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file),
            "AIRFLOW__API__BASE_URL": airflow_url,
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": db_url,
            "AIRFLOW__CELERY__BROKER_URL": redis_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + db_url,
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,  # this run's queue: no other worker on this Redis takes its tasks
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            # workers -> api-server: 5 s by default; on a loaded 2-core CI machine one call took longer
            # and cost a task try (the retry then succeeded)
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(aws_connection(REGION, {"s3": s3_url,
                                                                           "sagemaker-a2i-runtime": review_url})),
            "HUMAN_REVIEW_POLL_SECONDS": "3",
            "HUMAN_REVIEW_PORTAL_IN_AIRFLOW": "false",  # the DAGs and reviewers use the standalone service
            "HUMAN_REVIEW_START_DATE": datetime.now(timezone.utc).isoformat(),  # no scheduled run on start
        })
        t = time.monotonic()
        migrate = subprocess.run([airflow(), "db", "migrate"], env=_airflow_env(common, root / "db-migrate"),
                                 cwd=root, capture_output=True, text=True, timeout=600)
        (root / "db-migrate.log").write_text(migrate.stdout + migrate.stderr)
        if migrate.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed ({migrate.returncode}):\n{migrate.stderr[-3000:]}")
        timings["airflow db migrate"] = time.monotonic() - t

        t = time.monotonic()
        components = {
            "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(api_port), "--workers", "1"],
            "scheduler": ["scheduler"],
            "dag-processor": ["dag-processor"],
            "triggerer": ["triggerer", "--skip-serve-logs"],
        }
        for name, args in components.items():
            home = root / name
            by_name[name] = procs.start(name, [airflow(), *args], cwd=home,
                                        env=_airflow_env(common, home, HUMAN_REVIEW_HOSTNAME=name))
        worker_names = {}
        for name in WORKERS:
            home = root / name
            worker_names[name] = f"{name}-{run}@127.0.0.1"
            by_name[name] = procs.start(name, [
                airflow(), "celery", "worker", "--concurrency", "1", "--queues", queue,
                "--celery-hostname", worker_names[name], "--skip-serve-logs",
            ], cwd=home, env=_airflow_env(common, home, HUMAN_REVIEW_HOSTNAME=name))

        airflow_procs = [by_name[n] for n in (*components, *WORKERS)]
        wait_until("the api-server answering", lambda: httpx.get(f"{airflow_url}/api/v2/monitor/health",
                                                                  timeout=5).status_code == 200,
                   300, airflow_procs, interval=2)

        def healthy():
            h = httpx.get(f"{airflow_url}/api/v2/monitor/health", timeout=10).json()
            return all((h.get(part) or {}).get("status") == "healthy"
                       for part in ("metadatabase", "scheduler", "triggerer", "dag_processor"))

        wait_until("scheduler, triggerer and dag-processor healthy", healthy, 240, airflow_procs, interval=2)
        stack = Stack(procs, by_name, airflow_url, review_url, s3_url, _with_db(admin_url, airflow_db, "postgresql"),
                      redis_url, queue, worker_names, password, keys, prefix, 0.0, timings)

        def both_workers_answer():
            replies = stack.celery().control.ping(destination=list(worker_names.values()), timeout=3)
            return len(replies) == len(worker_names)

        wait_until("both Celery workers answering a ping", both_workers_answer, 240, airflow_procs, interval=2)
        timings["airflow components healthy"] = time.monotonic() - t
        stack.started_in = time.monotonic() - t0
        say(f"stack: up in {stack.started_in:.0f} s ({', '.join(f'{k} {v:.0f} s' for k, v in timings.items())})")
        yield stack
