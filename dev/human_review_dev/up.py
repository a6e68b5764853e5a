"""`make up` / `human-review up`: a local interactive stack for a person.

Starts moto's S3 server (in this process) with the sample photos, then `airflow standalone`
(scheduler, dag-processor, triggerer, api-server; SQLite; AIRFLOW_HOME under the git-ignored
``airflow-home/up``) with this project's dags and plugins. The review service runs inside the
api-server at ``/review`` (``plugins/review_portal_plugin.py``), so reviewers sign in with their
Airflow login and find "Review queue" in the UI's navigation. The pipeline's AWS connection
points S3 at moto and A2I at ``http://127.0.0.1:<port>/review`` (SigV4 with a key generated for
this stack and printed; never a published one).

The api-server listens on 127.0.0.1 only: the runtime API can start loops naming any object, so
the stack must not be reachable from the network unless someone asks (``--host 0.0.0.0``).
The passwords file, the state file and the review database are readable by their owner only.

Ctrl-C (or SIGTERM) stops everything: the standalone's children by pid, then the standalone, then moto.

Across restarts: Airflow's and the review service's SQLite files stay in the home, and local S3 is
saved to ``<home>/s3`` (``local_s3.PersistentS3``), so Review reports still lists earlier runs. A busy
port stops it at once with one line naming another (``make up PORT=...``). The review DAGs' start_date
is the stack's first start (``<home>/first-start``): no empty scheduled run fires before anyone
uploads anything. The start-up time printed is this machine's, measured (``<home>/last-startup.json``).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx

from human_review.config import PROJECT_ROOT
from human_review_dev.airflow_procs import stop_tree
from human_review_dev.local_airflow import local_airflow_env
from human_review_dev.stack import aws_connection

BUCKET = "human-review-demo"
USERS = "admin:admin,reviewer:user"  # reviewing needs PUT on HITL_DETAIL: the USER role


def stack_keys() -> tuple[str, str]:
    """A fresh access key id and secret for this stack's runtime API (and its local S3)."""
    return "HRLOCAL" + secrets.token_hex(6).upper(), secrets.token_urlsafe(30)


def private_file(path: Path, text: str = "") -> Path:
    """Create (or truncate) `path` readable and writable by its owner only (0600), then write `text`."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def up_environment(home: Path, *, host: str, port: int, s3_url: str, access_key: str, secret_key: str,
                   prefix_env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment `airflow standalone` runs with: where it listens, the connection, the keys."""
    base = f"http://127.0.0.1:{port}"
    conn = aws_connection("us-east-1", {"s3": s3_url, "sagemaker-a2i-runtime": f"{base}/review"},
                          access_key=access_key, secret_key=secret_key)
    env = dict(prefix_env or {})
    env.update(local_airflow_env(home))
    env.update({
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": USERS,
        "AIRFLOW__API__HOST": host,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": base,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(conn),
        "AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key, "AWS_DEFAULT_REGION": "us-east-1",
        "HUMAN_REVIEW_BUCKET": BUCKET,
        "HUMAN_REVIEW_POLL_SECONDS": "5",
        # the review service inside the api-server
        "HUMAN_REVIEW_S3_ENDPOINT_URL": s3_url,
        "HUMAN_REVIEW_PORTAL_DB_URL": f"sqlite:///{home / 'review-service.sqlite'}",
        "HUMAN_REVIEW_PORTAL_SECRET": secrets.token_hex(32),
    })
    return env


def say(msg: str) -> None:
    print(msg, flush=True)


def port_busy(port: int) -> str | None:
    """None if the api-server can listen on `port`; else one line saying who holds it (if we can tell).

    Binds 0.0.0.0 the way a server would (SO_REUSEADDR: a previous run's TIME_WAIT does not count), so a
    listener on any address, loopback included, makes the port busy."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
            return None
        except OSError:
            pass
    holder = ""
    try:
        import psutil

        for c in psutil.net_connections(kind="tcp"):
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid:
                holder = f" by pid {c.pid} ({psutil.Process(c.pid).name()})"
                break
    except Exception:  # another user's process, or no permission to look: say less
        pass
    return f"port {port} is already in use{holder}"


def free_port_near(port: int, tries: int = 50) -> int | None:
    return next((p for p in range(port + 1, port + 1 + tries) if p < 65536 and port_busy(p) is None), None)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


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


def _check(base: str, passwords: dict[str, str]) -> bool:
    """The review page answers through the api-server and demands an Airflow login."""
    unauth = httpx.get(f"{base}/review/worker/", timeout=10)
    token_ok = False
    if passwords:
        user, pw = sorted(passwords.items())[0]
        t = httpx.post(f"{base}/auth/token", json={"username": user, "password": pw}, timeout=10)
        if t.status_code in (200, 201):
            page = httpx.get(f"{base}/review/worker/", headers={"Authorization": f"Bearer {t.json()['access_token']}"},
                             timeout=10)
            token_ok = page.status_code == 200 and "Queues" in page.text and user in page.text
    say(f"check: /review/worker/ without login -> HTTP {unauth.status_code}; with a token -> {'OK' if token_ok else 'FAILED'}")
    return token_ok and unauth.status_code == 401


def _startup_note(home: Path) -> str:
    """What to expect, from this machine's last start (``<home>/last-startup.json``), not a guess."""
    try:
        last = json.loads((home / "last-startup.json").read_text())
        return f"the last start here took {last['seconds']:.0f} s"
    except (OSError, ValueError, KeyError):
        return "the first start creates Airflow's database: a minute or more on a small machine"


def _record_startup(home: Path, seconds: float) -> None:
    (home / "last-startup.json").write_text(json.dumps({"seconds": round(seconds, 1),
                                                          "at": datetime.now(timezone.utc).isoformat()}))


def _first_start(home: Path) -> str:
    """When this stack first started (kept in ``<home>/first-start``): the review DAGs' start_date, so
    the first start fires no empty scheduled run for the latest nightly interval (HUMAN_REVIEW_START_DATE)."""
    path = home / "first-start"
    if not path.exists():
        path.write_text(datetime.now(timezone.utc).isoformat(timespec="seconds"))
    return path.read_text().strip()


def run_up(*, port: int = 8080, home: Path | None = None, check: bool = False, timeout: float = 600.0,
           host: str = "127.0.0.1") -> int:
    """Run until Ctrl-C (SIGINT); with `check`, start, check the review page behind Airflow's login, stop.

    Once everything answers it writes ``<home>/up.json`` (URLs, bucket, keys, the passwords file) and
    removes it on the way out."""
    from human_review_dev import samples
    from human_review_dev.local_s3 import PersistentS3

    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request
    # Ctrl-C and SIGTERM both stop everything (a parent may have left SIGINT ignored)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    busy = port_busy(port)
    if busy:  # before anything starts: one line, and the way out
        other = free_port_near(port) or port + 1
        say(f"make up: {busy}. Stop that, or pick another port: make up PORT={other}  (human-review up --port {other})")
        return 2
    home = (home or PROJECT_ROOT / "airflow-home" / "up").resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    state_file = home / "up.json"
    state_file.unlink(missing_ok=True)
    started = time.monotonic()
    # local S3 keeps its buckets under <home>/s3 across restarts (moto itself is in-memory only)
    moto = PersistentS3(home / "s3")
    s3_url = moto.start()
    proc: subprocess.Popen | None = None
    try:
        access_key, secret_key = stack_keys()
        s3 = moto.client()
        if BUCKET not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
            s3.create_bucket(Bucket=BUCKET)
        prefix = f"incoming/{datetime.now(timezone.utc):%Y-%m-%d}/"
        keys = samples.seed(s3, BUCKET, prefix)
        say(f"local S3 (moto)   {s3_url}   {len(keys)} sample files in s3://{BUCKET}/{prefix}; "
            f"saved in {home / 's3'}")

        base = f"http://127.0.0.1:{port}"
        env = up_environment(home, host=host, port=port, s3_url=s3_url, access_key=access_key,
                             secret_key=secret_key, prefix_env=dict(os.environ))
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        pw_file = home / "simple_auth_manager_passwords.json.generated"
        if not pw_file.exists():
            private_file(pw_file)  # Airflow appends to it and keeps the mode: owner only
        os.chmod(pw_file, 0o600)
        if host not in ("127.0.0.1", "localhost", "::1"):
            say(f"WARNING: listening on {host}: anyone who reaches port {port} can try the logins and the "
                "runtime API key below.")
        env["HUMAN_REVIEW_START_DATE"] = _first_start(home)
        env.pop("AWS_PROFILE", None)
        log_path = home / "standalone.log"
        say(f"starting airflow standalone (AIRFLOW_HOME={home}; log: {log_path}) ... {_startup_note(home)}")
        with log_path.open("ab") as log:
            proc = subprocess.Popen([str(Path(sys.executable).parent / "airflow"), "standalone"], env=env,
                                    stdout=log, stderr=subprocess.STDOUT, cwd=str(home), start_new_session=True)
        _wait_http(f"{base}/api/v2/monitor/health", timeout, proc)
        _wait_http(f"{base}/review/healthz", 60, proc)
        from human_review import config

        flows = sorted(c.review.flow_definition.name for c in config.load_all()[0])
        passwords = json.loads(pw_file.read_text()) if pw_file.exists() else {}
        ready_in = time.monotonic() - started
        _record_startup(home, ready_in)
        say(f"ready in {ready_in:.0f} s")
        say("")
        say(f"Airflow UI        {base}/   (DAGs human_review_content_moderation, human_review_object_detection)")
        say(f"Review queue      {base}/review/worker/   (also in the UI's navigation; flows: {', '.join(flows or [])})")
        say(f"A2I runtime API   {base}/review   (SigV4, this stack's key: {access_key} / secret {secret_key})")
        say(f"listening on      {host}:{port}" + ("   (this machine only; --host 0.0.0.0 opens it)" if host == "127.0.0.1" else ""))
        for user, pw in sorted(passwords.items()):
            say(f"login             {user} / {pw}")
        if not passwords:
            say(f"login             see {pw_file}")
        say("Trigger a DAG with 'Ignore the data interval' checked, review the flagged images in the queue, watch the run finish.")
        if check:
            return 0 if _check(base, passwords) else 1
        # for scripts and the test suite (tests/e2e/standalone_smoke.py): where everything is, once it answers
        private_file(state_file, json.dumps({
            "pid": os.getpid(), "airflow_url": base, "review_url": f"{base}/review", "s3_endpoint_url": s3_url,
            "bucket": BUCKET, "prefix": prefix, "region": "us-east-1", "access_key": access_key,
            "secret_key": secret_key, "passwords_file": str(pw_file), "standalone_log": str(log_path),
        }, indent=1))
        say("Ctrl-C stops everything.")
        saved = time.monotonic()
        while proc.poll() is None:
            time.sleep(1)
            if time.monotonic() - saved > 60:  # a crash loses at most a minute of local S3
                try:
                    moto.save()
                except Exception as e:  # keep the stack up; the save on the way out tries again
                    say(f"warning: could not save local S3 to {home / 's3'}: {type(e).__name__}: {e}")
                saved = time.monotonic()
        say(f"airflow standalone exited with code {proc.returncode}; see {log_path}")
        return 1
    except KeyboardInterrupt:
        say("\nstopping ...")
        return 0
    finally:
        state_file.unlink(missing_ok=True)
        if proc is not None:
            stop_tree(proc)
        moto.stop()
        say("stopped.")
