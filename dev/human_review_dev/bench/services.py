"""The pipeline bench's processes: moto's S3 server, the stand-in endpoint, the review service and
Airflow's components, each its own process, stopped by pid (with its children) on the way out."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import httpx

from human_review_dev.airflow_procs import free_port, stop_tree  # noqa: F401  (pipeline.py imports them from here)

BIN = Path(sys.executable).parent


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 180.0,
              ok: Callable[[httpx.Response], bool] = lambda r: r.status_code == 200) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with code {proc.returncode}; last lines of {log}:\n"
                               + "\n".join(log.read_text(errors="replace").splitlines()[-30:]))
        try:
            r = httpx.get(url, timeout=5)
            if ok(r):
                return r
            last = f"HTTP {r.status_code}"
        except httpx.HTTPError as e:
            last = type(e).__name__
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s ({last}); see {log}")


class Processes:
    """Started processes, stopped in reverse order."""

    def __init__(self, logs: Path, env: dict[str, str]):
        self.logs, self.env = logs, env
        self.procs: list[tuple[str, subprocess.Popen]] = []
        logs.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None,
              stdout: int | None = None) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(args, env={**self.env, **(env or {})}, stdout=stdout or log,
                                stderr=log, start_new_session=True, cwd=str(self.logs))
        self.procs.append((name, proc))
        return proc

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def stop(self, names: tuple[str, ...] | None = None) -> None:
        for name, proc in reversed(list(self.procs)):
            if names is None or name in names:
                stop_tree(proc)
                self.procs.remove((name, proc))


@contextmanager
def processes(logs: Path, env: dict[str, str]) -> Iterator[Processes]:
    procs = Processes(logs, env)
    try:
        yield procs
    finally:
        procs.stop()


def start_moto(procs: Processes) -> str:
    port = free_port()
    proc = procs.start("moto", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)])
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/moto-api/", proc, procs.log("moto"), 60)
    return url


def start_endpoint(procs: Processes, latency_ms: float, fault_rate: float, flag_rate: float) -> str:
    proc = procs.start("endpoint", [sys.executable, "-m", "human_review_dev.bench.endpoint", "--port", "0",
                                    "--latency-ms", str(latency_ms), "--fault-rate", str(fault_rate),
                                    "--flag-rate", str(flag_rate)], stdout=subprocess.PIPE)
    port = int(proc.stdout.readline().decode().strip())
    return f"http://127.0.0.1:{port}"


def start_review_service(procs: Processes, db_url: str) -> str:
    port = free_port()
    # 127.0.0.1 only: name-only sign-in for the simulated reviewers, as every dev stack does
    proc = procs.start("review-service", [str(BIN / "human-review"), "portal", "--port", str(port),
                                          "--db-url", db_url], env={"HUMAN_REVIEW_PORTAL_OPEN_SIGN_IN": "true"})
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/healthz", proc, procs.log("review-service"), 60)
    return url


def pid_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "HUMAN_REVIEW", "AWS_"))}
