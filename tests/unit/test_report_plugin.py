"""The "Review reports" UI plugin: signed-in users see runs and reports; nobody signed out sees anything.

The positive path uses a real JWT from Airflow's auth manager (SimpleAuthManager) against the real
`requires_authenticated()` dependency; nothing is overridden.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

RUN = "2026-11-20T020000Z"


@pytest.fixture()
def reports(tmp_path, project_root, monkeypatch):
    import human_review.config as config

    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    prefix = f"file://{tmp_path}/reports"
    text = (project_root / "include" / "pipelines" / "object_detection.yaml").read_text()
    text = text.replace("s3://${HUMAN_REVIEW_BUCKET:-human-review-demo}/human-review/reports", prefix)
    (pipelines / "object_detection.yaml").write_text(text)
    monkeypatch.setattr(config, "PIPELINES_DIR", pipelines)
    run_dir = tmp_path / "reports" / "object-detection" / RUN
    run_dir.mkdir(parents=True)
    summary = {"pipeline": "object-detection", "run_key": RUN, "images": 13, "flagged_share": 0.5, "reviewed": 6,
               "changed_by_reviewers": 3, "mean_agreement": 0.9, "generated_at": "2026-11-20T03:00:00+00:00",
               "dag_id": "human_review_object_detection", "dag_run_id": "scheduled__2026-11-20T02:00:00+00:00",
               "files": {"html": f"{prefix}/object-detection/{RUN}/report.html"}}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    (run_dir / "report.html").write_text("<!DOCTYPE html><title>r</title><img src='data:image/jpeg;base64,AAAA'>")
    return run_dir


@pytest.fixture()
def client(airflow_db):
    from review_reports_plugin import app

    from airflow.api_fastapi.app import create_auth_manager

    app.state.auth_manager = create_auth_manager()
    return TestClient(app)


@pytest.fixture()
def token(airflow_db):
    from airflow.api_fastapi.app import get_auth_manager, init_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    try:
        manager = get_auth_manager()
    except Exception:  # noqa: BLE001  not initialised in this process yet
        manager = init_auth_manager()
    return manager.generate_jwt(SimpleAuthManagerUser(username="ml-engineer", role="viewer"))


PATHS = ["/", f"/object-detection/{RUN}/report.html", f"/object-detection/{RUN}/summary.json"]


@pytest.mark.parametrize("path", PATHS)
def test_signed_out_gets_nothing(reports, client, path):
    r = client.get(path)
    assert r.status_code == 401, r.text
    assert "data:image" not in r.text


@pytest.mark.parametrize("path", PATHS)
def test_a_forged_token_gets_nothing(reports, client, path):
    r = client.get(path, headers={"Authorization": "Bearer not.a.jwt"})
    assert r.status_code in (401, 403)
    r = client.get(path, cookies={"_token": "forged"})
    assert r.status_code in (401, 403)


def test_signed_in_sees_runs_and_reports(reports, client, token):
    headers = {"Authorization": f"Bearer {token}"}
    index = client.get("/", headers=headers)
    assert index.status_code == 200, index.text
    assert "object-detection" in index.text and f'href="object-detection/{RUN}/report.html"' in index.text
    assert "50.0%" in index.text  # flagged share, a headline number
    # the run as the Airflow UI names it, linked to its page there; every column has a header
    assert ('<a href="/dags/human_review_object_detection/runs/scheduled__2026-11-20T02%3A00%3A00%2B00%3A00">'
            "scheduled__2026-11-20T02:00:00+00:00</a>") in index.text
    assert "<th>dry run</th>" in index.text and "<th></th>" not in index.text
    page = client.get(f"/object-detection/{RUN}/report.html", headers=headers)
    assert page.status_code == 200 and "data:image/jpeg" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    # the UI's session cookie works too
    client.cookies.set("_token", token)
    assert client.get(f"/object-detection/{RUN}/summary.json").json()["images"] == 13


def test_no_path_escapes_the_report_prefix(reports, client, token):
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/object-detection/..%2F..%2Fetc/report.html", headers=headers).status_code == 404
    assert client.get(f"/no-such-pipeline/{RUN}/report.html", headers=headers).status_code == 404


def test_plugin_registers_the_app_and_the_nav_entry():
    from review_reports_plugin import ReviewReportsPlugin

    [mount] = ReviewReportsPlugin.fastapi_apps
    assert mount["url_prefix"] == "/review-reports"
    [view] = ReviewReportsPlugin.external_views
    assert view["href"] == "/review-reports/" and view["destination"] == "nav"
    assert "category" not in view  # in the main navigation, not only under Browse
