"""Attack: a signed-in Airflow user reads another pipeline's reports and works its review queue.

Before: every signed-in user saw every pipeline's reports (images and reviewer stats included) and
every queue. After: the auth manager decides per DAG (``is_authorized_dag``, what
``requires_access_dag`` asks): GET on the DAG's runs for reports, the configured action (default
PUT on HITL_DETAIL) for reviewing. SimpleAuthManager only knows roles (and teams), so per-DAG grants
are shown with a small auth manager that answers ``is_authorized_dag`` per DAG, as FAB or Keycloak
would; the role rules are shown with SimpleAuthManager itself."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

RUN = "2026-11-20T020000Z"
DAGS = {"object-detection": "human_review_object_detection", "content-moderation": "human_review_content_moderation"}


class PerDagAuthManager(SimpleAuthManager):
    """SimpleAuthManager plus per-DAG grants for some users (what FAB's per-DAG permissions give)."""

    GRANTS = {"od-viewer": {"human_review_object_detection"}, "od-reviewer": {"human_review_object_detection"}}

    def is_authorized_dag(self, *, method, user, access_entity=None, details=None) -> bool:
        grants = self.GRANTS.get(user.username)
        if grants is not None and (details is None or details.id not in grants):
            return False
        return super().is_authorized_dag(method=method, user=user, access_entity=access_entity, details=details)


@pytest.fixture()
def auth(airflow_db, monkeypatch):
    from airflow.api_fastapi import app as airflow_app

    manager = PerDagAuthManager()
    monkeypatch.setattr(airflow_app._AuthManagerState, "instance", manager)
    return lambda name, role: {"Authorization": f"Bearer {manager.generate_jwt(SimpleAuthManagerUser(username=name, role=role))}"}


@pytest.fixture()
def reports(tmp_path, project_root, monkeypatch):
    import human_review.config as config

    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    prefix = f"file://{tmp_path}/reports"
    for f, pipeline in (("object_detection.yaml", "object-detection"), ("content_moderation.yaml", "content-moderation")):
        text = (project_root / "include" / "pipelines" / f).read_text()
        text = text.replace("s3://${HUMAN_REVIEW_BUCKET:-human-review-demo}/human-review/reports", prefix)
        (pipelines / f).write_text(text)
        run_dir = tmp_path / "reports" / pipeline / RUN
        run_dir.mkdir(parents=True)
        (run_dir / "summary.json").write_text(json.dumps({
            "pipeline": pipeline, "run_key": RUN, "images": 3, "reviewed": 1, "generated_at": "2026-11-20T03:00:00+00:00",
            "files": {"html": f"{prefix}/{pipeline}/{RUN}/report.html"}}))
        (run_dir / "report.html").write_text(f"<!DOCTYPE html><title>{pipeline} secret report</title>")
    monkeypatch.setattr(config, "PIPELINES_DIR", pipelines)
    return pipelines


def test_a_viewer_of_one_pipeline_cannot_read_anothers_reports(reports, auth):
    from review_reports_plugin import app

    client = TestClient(app)
    od = auth("od-viewer", "viewer")
    assert client.get(f"/object-detection/{RUN}/report.html", headers=od).status_code == 200
    for path in (f"/content-moderation/{RUN}/report.html", f"/content-moderation/{RUN}/summary.json"):
        r = client.get(path, headers=od)
        assert r.status_code == 403 and "secret report" not in r.text, (path, r.status_code)
    index = client.get("/", headers=od).text
    assert "object-detection" in index and "content-moderation" not in index
    # a viewer with no per-DAG restriction (plain SimpleAuthManager rules) reads both
    everyone = auth("ml-engineer", "viewer")
    assert client.get(f"/content-moderation/{RUN}/report.html", headers=everyone).status_code == 200


def test_review_queue_follows_the_dag_permission(reports, auth, tmp_path, monkeypatch):
    import httpx

    from human_review.portal.server import serve_in_thread

    monkeypatch.setenv("HUMAN_REVIEW_PORTAL_DB_URL", f"sqlite:///{tmp_path / 'review.sqlite'}")
    monkeypatch.setenv("HUMAN_REVIEW_PIPELINES_DIR", str(reports))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    from review_portal_plugin import LazyReviewApp

    app = LazyReviewApp().app
    server = serve_in_thread(app)
    try:
        import boto3

        a2i = boto3.client("sagemaker-a2i-runtime", endpoint_url=server.url, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        for flow in DAGS:
            a2i.start_human_loop(HumanLoopName=f"perdag-{flow}", FlowDefinitionArn=
                                 f"arn:aws:sagemaker:us-east-1:000000000000:flow-definition/{flow}",
                                 HumanLoopInput={"InputContent": json.dumps({"taskObject": "s3://b/incoming/a.png"})})

        def queues(headers):
            r = httpx.get(f"{server.url}/worker/api/queues", headers=headers)
            assert r.status_code == 200, r.text
            return {q["flowDefinitionName"] for q in r.json()["queues"]}

        # per-DAG grant: one pipeline's queue only; the other's claim is refused
        od = auth("od-reviewer", "user")
        assert queues(od) == {"object-detection"}
        assert httpx.post(f"{server.url}/worker/api/queues/content-moderation/claim", headers=od).status_code == 403
        assert httpx.post(f"{server.url}/worker/api/queues/object-detection/claim", headers=od).status_code == 200
        # SimpleAuthManager's roles: reviewing needs PUT (USER and up); a Viewer may review nothing
        viewer = auth("looker", "viewer")
        assert queues(viewer) == set()
        assert httpx.post(f"{server.url}/worker/api/queues/object-detection/claim", headers=viewer).status_code == 403
        assert queues(auth("reviewer", "user")) == set(DAGS)
    finally:
        server.stop()
        app.state.review_service.store.dispose()


def test_review_access_is_configurable():
    from review_portal_plugin import review_access

    assert review_access({}) == ("PUT", "HITL_DETAIL")
    assert review_access({"HUMAN_REVIEW_REVIEW_ACCESS": "GET"}) == ("GET", None)
    with pytest.raises(ValueError, match="HUMAN_REVIEW_REVIEW_ACCESS"):
        review_access({"HUMAN_REVIEW_REVIEW_ACCESS": "FLY"})


def test_a_signed_out_browser_is_sent_to_sign_in_and_an_api_client_gets_401(reports, auth, tmp_path, monkeypatch):
    """Issue 13: the signed-out queue URL redirects to Airflow's sign-in instead of raw JSON."""
    monkeypatch.setenv("HUMAN_REVIEW_PORTAL_DB_URL", f"sqlite:///{tmp_path / 'review.sqlite'}")
    monkeypatch.setenv("HUMAN_REVIEW_PIPELINES_DIR", str(reports))
    from review_portal_plugin import LazyReviewApp

    app = LazyReviewApp().app
    try:
        client = TestClient(app, base_url="http://airflow.test")
        page = client.get("/worker/", headers={"Accept": "text/html,application/xhtml+xml"}, follow_redirects=False)
        assert page.status_code == 303 and "login" in page.headers["location"]
        assert "next=" in page.headers["location"] and "worker" in page.headers["location"]
        assert client.get("/worker/api/queues", headers={"Accept": "text/html"}).status_code == 401
        assert client.get("/worker/", headers={"Accept": "application/json"}).status_code == 401
        signed_in = client.get("/worker/", headers={**auth("reviewer", "user"), "Accept": "text/html"})
        assert signed_in.status_code == 200 and "<html" in signed_in.text.lower()
    finally:
        app.state.review_service.store.dispose()
