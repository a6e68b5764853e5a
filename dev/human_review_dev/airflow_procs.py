"""Start Airflow components (and other services) as real, separate processes; stop them by pid.

    with Processes(tmp_path) as procs:
        api = procs.start("api-server", [airflow(), "api-server", "--port", "8080"], env=env)
        wait_http("http://127.0.0.1:8080/api/v2/monitor/health", 180, api)
        ...
    # every process started here, and every process it started, is gone, also when the block raised

Each process runs in its own session (so in its own process group) with its own working directory
under the root, and its stdout/stderr in ``<root>/<name>.log``. Stopping sends SIGTERM to each
process group, waits, then SIGKILLs what is left, by pid (descendants found with psutil before the
first signal, so a child that moved to another group is not forgotten). Used by the distributed stack
test (tests/stack/) and shareable by benches that need a real scheduler.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import httpx


def airflow() -> str:
    """The `airflow` executable of this Python environment."""
    return str(Path(sys.executable).parent / "airflow")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def stop_tree(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM a process we started and its descendants (by pid), then SIGKILL what is left."""
    import psutil

    try:
        parent = psutil.Process(proc.pid)
        family = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for p in family:
        try:
            p.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _gone, alive = psutil.wait_procs(family, timeout=timeout)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def hostname() -> str:
    """`[core] hostname_callable` for several components on one machine: the name in
    HUMAN_REVIEW_HOSTNAME (set per process), else the machine's FQDN as Airflow would use."""
    return os.environ.get("HUMAN_REVIEW_HOSTNAME") or socket.getfqdn()


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    cwd: Path
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self, tail: int | None = None) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text[-tail:] if tail else text


class ProcessExited(RuntimeError):
    """A process we started exited while we waited for it."""


class Processes:
    """The processes one test or bench started; a context manager that stops them all on exit."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.procs: list[Proc] = []

    def start(self, name: str, argv: Sequence[str], *, env: dict[str, str], cwd: Path | None = None) -> Proc:
        cwd = Path(cwd) if cwd else self.root / name
        cwd.mkdir(parents=True, exist_ok=True)
        log_path = self.root / f"{name}.log"
        with log_path.open("ab") as log:
            popen = subprocess.Popen(list(argv), env=env, cwd=str(cwd), stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        proc = Proc(name, popen, cwd, log_path)
        self.procs.append(proc)
        return proc

    def stop_all(self, timeout: float = 30.0) -> None:
        """SIGTERM every process group we started (newest first), then SIGKILL what is left, by pid."""
        import psutil

        family: list[psutil.Process] = []
        for proc in reversed(self.procs):
            try:
                parent = psutil.Process(proc.pid)
                family += [parent, *parent.children(recursive=True)]
            except psutil.NoSuchProcess:
                pass
        for proc in reversed(self.procs):
            if proc.alive():
                try:
                    os.killpg(proc.pid, signal.SIGTERM)  # start_new_session: its pid is its group's id
                except ProcessLookupError:
                    pass
        _gone, alive = psutil.wait_procs(family, timeout=timeout)
        for p in alive:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=10)
        for proc in self.procs:
            try:
                proc.popen.wait(5)
            except subprocess.TimeoutExpired:
                pass

    def __enter__(self) -> "Processes":
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()


def wait_until(what: str, check: Callable[[], object], timeout: float, procs: Sequence[Proc] = (),
               interval: float = 1.0) -> object:
    """Call `check` until it returns something truthy; raise if a watched process exits or time runs out."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        for proc in procs:
            if not proc.alive():
                raise ProcessExited(f"{proc.name} (pid {proc.pid}) exited with code {proc.popen.returncode} while "
                                    f"waiting for {what}; its log {proc.log_path}:\n{proc.output(3000)}")
        try:
            last = check()
            if last:
                return last
        except httpx.HTTPError as e:
            last = f"{type(e).__name__}: {e}"
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s (last: {last!r})")
        time.sleep(interval)


def wait_http(url: str, timeout: float, proc: Proc, ok: Callable[[httpx.Response], bool] | None = None) -> httpx.Response:
    """Wait until `url` answers (200, or `ok`) while `proc` runs."""
    ok = ok or (lambda r: r.status_code == 200)

    def check():
        r = httpx.get(url, timeout=5)
        return r if ok(r) else None

    return wait_until(f"{proc.name} answering {url}", check, timeout, [proc])  # type: ignore[return-value]


__all__ = ["Proc", "ProcessExited", "Processes", "airflow", "free_port", "hostname", "stop_tree", "wait_http",
           "wait_until"]
