"""`human-review bench --service` on a few loops: the review service in its own process, boto3
callers and reviewers in client processes. Checks what the figures count (never the timings: the
machine is shared): every start answered once, every paced and flat-out task claimed and submitted
once, and latencies that are latencies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("standalone")]


def test_service_bench_counts_every_start_and_answer(tmp_path, project_root):
    out = tmp_path / "service.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "HUMAN_REVIEW", "AWS_"))}
    cmd = [str(Path(sys.executable).parent / "human-review"), "bench", "--service", "--service-loops", "80",
           "--service-review-loops", "40", "--service-paced-loops", "20", "--service-json", str(out)]
    proc = subprocess.run(cmd, env=env, cwd=project_root, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "HUMAN_REVIEW_TEST_POSTGRES_URL is not set: SQLite only" in proc.stdout
    (result,) = json.loads(out.read_text())["results"]
    assert result["database"] == "sqlite" and result["workers"] == 1
    assert [(s["callers"], s["loops"], s["errors"]) for s in result["start"]] == [(1, 20, 0), (8, 80, 0), (20, 80, 0)]
    for s in result["start"]:
        assert s["per_s"] > 0 and s["wall_s"] > 0
        assert 0 < s["p50_ms"] <= s["p99_ms"] < s["wall_s"] * 1000
    paced, flat = result["review"]
    assert (paced["think_s"], paced["loops"], paced["submit_calls"], paced["errors"]) == (1.0, 20, 20, 0)
    assert (flat["think_s"], flat["loops"], flat["submit_calls"], flat["errors"]) == (0.0, 40, 40, 0)
    for phase in (paced, flat):
        assert 0 < phase["claim_p50_ms"] <= phase["claim_p99_ms"]
        assert 0 < phase["submit_p50_ms"] <= phase["submit_p99_ms"]
    assert paced["wall_s"] >= 1.0  # each of the 20 tasks was held for the reviewer's second
    assert "StartHumanLoop" in proc.stdout or "starts/s" in proc.stdout
