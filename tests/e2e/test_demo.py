"""`make demo` as a user runs it: a subprocess of the real CLI, from nothing to reports on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("demo")]


def test_demo_runs_both_pipelines_and_leaves_reports(tmp_path, project_root):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "HUMAN_REVIEW", "AWS_"))}
    out = tmp_path / "demo-output"
    proc = subprocess.run(
        [sys.executable, "-m", "human_review.cli", "demo", "--output", str(out), "--delay", "0.05"],
        cwd=project_root, env={**env, "PYTHONPATH": str(project_root / "plugins")},
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    printed = proc.stdout
    assert "images found" in printed and "auto-accepted" in printed and "sent to review" in printed
    assert "local services stopped" in printed

    for pipeline in ("content-moderation", "object-detection"):
        [run_dir] = (out / "reports" / pipeline).iterdir()
        for name in ("report.html", "report.parquet", "report.csv", "summary.json"):
            assert str(run_dir / name) in printed
        summary = json.loads((run_dir / "summary.json").read_text())
        report = pd.read_parquet(run_dir / "report.parquet")
        assert summary["images"] == len(report) == 13
        assert summary["status_counts"]["invalid"] == 4
        assert summary["status_counts"]["reviewed"] == summary["sent_to_review"] >= 1
        assert sum(summary["status_counts"].values()) == len(report)
        # the printed row for this pipeline carries the same numbers as its summary
        row = next(line.split() for line in printed.splitlines() if line.startswith(pipeline))
        assert row[1:6] == [str(summary["images"]), str(summary["status_counts"]["auto_accepted"]),
                            str(summary["sent_to_review"]), str(summary["status_counts"]["reviewed"]),
                            str(summary["changed_by_reviewers"])]
