"""The real deployment path: `airflow standalone` (scheduler, dag-processor, triggerer, api-server,
LocalExecutor) with this project's dags and plugins, runs triggered over the REST API, reviews
answered in the review queue mounted in the api-server behind Airflow's auth, the wait deferred
to the triggerer. This is `make up` in its self-checking mode."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("standalone")]


def test_make_up_smoke(tmp_path, project_root):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "HUMAN_REVIEW", "AWS_"))}
    env["PYTHONPATH"] = str(project_root / "plugins")
    proc = subprocess.run(
        [sys.executable, "-m", "human_review.cli", "up", "--smoke", "--port", str(port), "--home", str(tmp_path / "home")],
        cwd=project_root, env=env, capture_output=True, text=True, timeout=900,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "without login -> HTTP 401; with a token -> OK" in out
    assert out.count(" success; ") == 2
    assert "wait_for_reviews deferred: True" in out
    assert out.count("(scheduled on the report asset) success") == 2
    assert "signed in lists both pipelines: True; HTML reports open only when signed in: True" in out
    assert "stopped." in out
