"""The real deployment path: `airflow standalone` (scheduler, dag-processor, triggerer, api-server,
LocalExecutor) with this project's dags and plugins, runs triggered over the REST API, reviews
answered in the review queue mounted in the api-server behind Airflow's auth, the wait deferred
to the triggerer. This is `make up` (the dev package's `human-review up`), driven from outside by
standalone_smoke.py."""

from __future__ import annotations

import os
import socket

import pytest

from standalone_smoke import running_up, sign_in, smoke

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("standalone")]


def test_make_up_smoke(tmp_path, project_root):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "HUMAN_REVIEW", "AWS_"))}
    env["PYTHONPATH"] = str(project_root / "plugins")
    with running_up(port, tmp_path / "home", cwd=project_root, env=env) as up:
        login = sign_in(up)
        assert login.signed_out_status == 401, up.output()[-4000:]
        assert login.token and login.page_ok, up.output()[-4000:]

        result = smoke(up, login.token)
        assert set(result.states.values()) == {"success"}, (result, up.output()[-4000:])
        assert result.deferred == set(result.states), result
        for dag_id, summary in result.summaries.items():
            assert summary is not None and summary["images"] > 0, (dag_id, summary)
        assert result.answers > 0
        assert result.reports_signed_out in (401, 403)
        assert result.reports_lists_pipelines
        assert result.html_reports_only_signed_in
        assert set(result.exports.values()) == {"success"}, result.exports
    out = up.output()
    assert up.proc.returncode == 0, out[-4000:]
    assert "stopped." in out
