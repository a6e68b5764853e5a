"""Review reports in the Airflow UI: a "Review reports" nav entry and a page per pipeline's runs.

A FastAPI app mounted on the api-server at /review-reports lists each pipeline's runs with their
headline numbers (from the runs' summary.json) and serves each run's self-contained HTML report.
Plugin apps are not protected by Airflow on their own: every route here depends on
`requires_authenticated()`, so the UI's `_token` cookie or a Bearer token is needed for the list,
the reports and the images embedded in them. Per pipeline, the auth manager decides: a pipeline's
runs and reports are listed and served only to users it allows to read that pipeline's DAG runs
(``GET`` on ``DagAccessEntity.RUN`` of the DAG, what ``requires_access_dag`` asks); others get 403
and the index leaves the pipeline out.
"""

from __future__ import annotations

import logging
import re
from html import escape

from airflow.api_fastapi.core_api.security import get_user, requires_authenticated
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

log = logging.getLogger(__name__)
URL_PREFIX = "/review-reports"
RUN_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
RUNS_LISTED = 30
REPORT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

app = FastAPI(title="Review reports", dependencies=[Depends(requires_authenticated())],
              docs_url=None, redoc_url=None, openapi_url=None)


def _configs() -> dict:
    from human_review.config import load_all

    configs, _ = load_all()
    return {c.pipeline: c for c in configs}


def may_read(user, dag_id: str) -> bool:
    """Whether the auth manager lets `user` read the runs of `dag_id` (as requires_access_dag("GET", RUN))."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
    from airflow.models.dag import DagModel

    try:
        team = DagModel.get_team_name(dag_id)
    except Exception:  # noqa: BLE001  no metadata DB row (yet): no team
        team = None
    return get_auth_manager().is_authorized_dag(method="GET", access_entity=DagAccessEntity.RUN,
                                                details=DagDetails(id=dag_id, team_name=team), user=user)


def _config(pipeline: str, user=None):
    config = _configs().get(pipeline)
    if config is None:
        raise HTTPException(404, f"no pipeline {pipeline!r}")
    if user is not None and not may_read(user, config.dag_id):
        raise HTTPException(403, f"you may not read the runs of {config.dag_id}")
    return config


def _run_uri(pipeline: str, run_key: str, name: str, user) -> tuple[str, str]:
    from human_review import storage

    config = _config(pipeline, user)
    if not RUN_KEY.match(run_key) or ".." in run_key:
        raise HTTPException(404, "no such run")
    return storage.join(config.report.prefix, pipeline, run_key, name), config.aws_conn_id


def _runs(config) -> list[dict]:
    from human_review import storage
    from human_review.reports.metrics import headline

    out = []
    root = storage.join(config.report.prefix, config.pipeline)
    for run_dir in storage.list_folders(root, config.aws_conn_id)[-RUNS_LISTED:]:
        uri = storage.join(root, run_dir, "summary.json")
        try:
            summary = storage.read_json(uri, config.aws_conn_id)
        except (FileNotFoundError, ValueError):
            continue
        out.append({**headline(summary), "run_dir": uri.rsplit("/", 2)[-2],
                    "generated_at": summary.get("generated_at"), "has_html": "html" in (summary.get("files") or {}),
                    "dag_id": summary.get("dag_id") or config.dag_id, "dag_run_id": summary.get("dag_run_id"),
                    "over_budget": (summary.get("budget") or {}).get("cut")})
    return sorted(out, key=lambda r: r.get("generated_at") or "", reverse=True)


def _pct(v) -> str:
    return "–" if v is None else f"{v * 100:.1f}%"


@app.get("/", response_class=HTMLResponse)
def index(user=Depends(get_user)) -> HTMLResponse:
    sections = []
    for pipeline, config in sorted(_configs().items()):
        if not may_read(user, config.dag_id):
            continue
        try:
            runs = _runs(config)
        except Exception as e:  # noqa: BLE001  one unreachable bucket must not hide the other pipelines
            log.warning("review reports: cannot list %s: %s", pipeline, e)
            sections.append(f"<h2>{escape(pipeline)}</h2><p>Reports unavailable: {escape(str(e))}</p>")
            continue
        rows = "".join(
            f"<tr><td>{_run_link(r)}</td><td>{_link(pipeline, r)}</td><td>{escape(str(r['images']))}</td>"
            f"<td>{_pct(r['flagged_share'])}</td><td>{escape(str(r['reviewed']))}</td><td>{_pct(r['changed_share'])}</td>"
            f"<td>{_pct(r['mean_agreement'])}</td><td>{escape(str(r['over_budget'] or 0))}</td>"
            f"<td>{'yes' if r['dry_run'] else 'no'}</td></tr>"
            for r in runs
        ) or '<tr><td colspan="9">No reports yet.</td></tr>'
        sections.append(
            f'<h2>{escape(pipeline)} <small><a href="/dags/{escape(config.dag_id)}">DAG {escape(config.dag_id)}</a></small></h2>'
            "<table><thead><tr><th>DAG run</th><th>report</th><th>images</th><th>flagged</th>"
            "<th>reviewed</th><th>changed by people</th><th>reviewer agreement</th><th>over budget</th>"
            f"<th>dry run</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    page = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Review reports</title>
<style>body{{font:14px system-ui,sans-serif;margin:20px;color:#1d2330}}table{{border-collapse:collapse}}
th,td{{padding:4px 10px;border-bottom:1px solid #e5e7eb;text-align:right}}th:first-child,td:first-child{{text-align:left}}</style>
</head><body><h1>Review reports</h1>{''.join(sections) or '<p>No pipelines.</p>'}</body></html>"""
    return HTMLResponse(page)


def _link(pipeline: str, run: dict) -> str:
    label = escape(run["run_dir"])
    if not run["has_html"]:
        return label
    return f'<a href="{escape(pipeline)}/{label}/report.html">{label}</a>'


def _run_link(run: dict) -> str:
    """The run as the Airflow UI names it, linked to its page there (older reports show their key)."""
    from urllib.parse import quote

    run_id = run.get("dag_run_id")
    if not run_id:
        return escape(run["run_dir"])
    href = f"/dags/{quote(run['dag_id'], safe='')}/runs/{quote(run_id, safe='')}"
    return f'<a href="{escape(href)}">{escape(run_id)}</a>'


@app.get("/{pipeline}/{run_key}/report.html", response_class=HTMLResponse)
def report_html(pipeline: str, run_key: str, user=Depends(get_user)) -> HTMLResponse:
    from human_review import storage

    uri, conn = _run_uri(pipeline, run_key, "report.html", user)
    try:
        body = storage.path(uri, conn).read_bytes()
    except FileNotFoundError:
        raise HTTPException(404, "this run has no HTML report") from None
    return HTMLResponse(body, headers={"Content-Security-Policy": REPORT_CSP})


@app.get("/{pipeline}/{run_key}/summary.json")
def summary_json(pipeline: str, run_key: str, user=Depends(get_user)) -> JSONResponse:
    from human_review import storage

    uri, conn = _run_uri(pipeline, run_key, "summary.json", user)
    try:
        return JSONResponse(storage.read_json(uri, conn))
    except FileNotFoundError:
        raise HTTPException(404, "no such run") from None


@app.get("/{pipeline}", include_in_schema=False)
def pipeline_root(pipeline: str) -> RedirectResponse:
    return RedirectResponse(f"{URL_PREFIX}/")


class ReviewReportsPlugin(AirflowPlugin):
    name = "review_reports"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Review reports"}]
    external_views = [{"name": "Review reports", "href": f"{URL_PREFIX}/", "destination": "nav",
                       "url_route": "review-reports"}]  # no category: in the main navigation, not under Browse
