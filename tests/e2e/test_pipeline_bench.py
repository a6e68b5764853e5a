"""`human-review bench --images 40`: the DAG under a real scheduler and LocalExecutor against the
notebook loop, end to end, in its own processes. Checks the accounting the JSON reports (never
its timings: the machine is shared)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("standalone")]


def test_bench_accounts_for_every_image_once(tmp_path, project_root):
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "HUMAN_REVIEW", "AWS_"))}
    cmd = [str(Path(sys.executable).parent / "human-review"), "bench", "--images", "40", "--broken-rate", "0.1",
           "--fault-rate", "0.05", "--json", str(out), "--workdir", str(tmp_path / "work")]
    proc = subprocess.run(cmd, env=env, cwd=project_root, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    r = json.loads(out.read_text())
    assert r["state"] == "success"
    assert r["images"] == r["discovered"] == 40
    assert r["accounted"] == r["report_rows"] == 40  # every image exactly once
    assert r["status_counts"].get("invalid", 0) >= 1  # the broken files, reported, not lost
    assert r["loops_started"] >= 1 and r["duplicate_loops"] == 0
    assert r["answers"] == r["loops_started"]  # the simulated reviewers answered every loop
    assert r["describe_calls"] == 0  # route starts without describing; the wait lists
    assert r["dag_start_calls"] == r["loops_started"]  # one call per loop
    assert r["start_calls"] == r["loops_started"] + r["baseline_loops_started"]
    assert r["task_instances"] == 5  # discover, one infer and one route batch, wait, report
    for key in ("wall_s", "baseline_wall_s", "images_per_s", "client_cpu_ms_per_image",
                "baseline_client_cpu_ms_per_image", "peak_rss_mb", "list_calls_per_poll", "report_s"):
        assert isinstance(r[key], (int, float)) and r[key] >= 0, key
    assert "notebook loop" in proc.stdout and "speedup" in proc.stdout
