"""Review reports in the Airflow UI: a "Review reports" nav entry and a page per pipeline's runs.

A FastAPI app mounted on the api-server at /review-reports lists each pipeline's runs with their
headline numbers (from the runs' summary.json) and serves each run's self-contained HTML report.
Plugin apps are not protected by Airflow on their own: every route here depends on
`requires_authenticated()`, so the UI's `_token` cookie or a Bearer token is needed for the list,
the reports and the images embedded in them.
"""

from __future__ import annotations

import logging
import re
from html import escape

from airflow.api_fastapi.core_api.security import requires_authenticated
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


def _config(pipeline: str):
    config = _configs().get(pipeline)
    if config is None:
        raise HTTPException(404, f"no pipeline {pipeline!r}")
    return config


def _run_uri(pipeline: str, run_key: str, name: str) -> tuple[str, str]:
    from human_review import storage

    if not RUN_KEY.match(run_key) or ".." in run_key:
        raise HTTPException(404, "no such run")
    config = _config(pipeline)
    return storage.join(config.report.prefix, pipeline, run_key, name), config.aws_conn_id


def _runs(config) -> list[dict]:
    from human_review import storage
    from human_review.reports.metrics import headline
    from human_review.reports.trend import list_summaries

    out = []
    for uri in list_summaries(config.report.prefix, config.pipeline, config.aws_conn_id)[-RUNS_LISTED:]:
        try:
            summary = storage.read_json(uri, config.aws_conn_id)
        except (FileNotFoundError, ValueError):
            continue
        out.append({**headline(summary), "run_dir": uri.rsplit("/", 2)[-2],
                    "generated_at": summary.get("generated_at"), "has_html": "html" in (summary.get("files") or {})})
    return sorted(out, key=lambda r: r.get("generated_at") or "", reverse=True)


def _pct(v) -> str:
    return "–" if v is None else f"{v * 100:.1f}%"


@app.get("/", response_class=HTMLResponse)
def index() -> HTMLResponse:
    sections = []
    for pipeline, config in sorted(_configs().items()):
        try:
            runs = _runs(config)
        except Exception as e:  # noqa: BLE001  one unreachable bucket must not hide the other pipelines
            log.warning("review reports: cannot list %s: %s", pipeline, e)
            sections.append(f"<h2>{escape(pipeline)}</h2><p>Reports unavailable: {escape(str(e))}</p>")
            continue
        rows = "".join(
            f"<tr><td>{_link(pipeline, r)}</td><td>{escape(str(r['images']))}</td><td>{_pct(r['flagged_share'])}</td>"
            f"<td>{escape(str(r['reviewed']))}</td><td>{_pct(r['changed_share'])}</td><td>{_pct(r['mean_agreement'])}</td>"
            f"<td>{'dry run' if r['dry_run'] else ''}</td></tr>"
            for r in runs
        ) or '<tr><td colspan="7">No reports yet.</td></tr>'
        sections.append(
            f"<h2>{escape(pipeline)}</h2><table><thead><tr><th>run</th><th>images</th><th>flagged</th>"
            f"<th>reviewed</th><th>changed by people</th><th>reviewer agreement</th><th></th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
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


@app.get("/{pipeline}/{run_key}/report.html", response_class=HTMLResponse)
def report_html(pipeline: str, run_key: str) -> HTMLResponse:
    from human_review import storage

    uri, conn = _run_uri(pipeline, run_key, "report.html")
    try:
        body = storage.path(uri, conn).read_bytes()
    except FileNotFoundError:
        raise HTTPException(404, "this run has no HTML report") from None
    return HTMLResponse(body, headers={"Content-Security-Policy": REPORT_CSP})


@app.get("/{pipeline}/{run_key}/summary.json")
def summary_json(pipeline: str, run_key: str) -> JSONResponse:
    from human_review import storage

    uri, conn = _run_uri(pipeline, run_key, "summary.json")
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
                       "url_route": "review-reports", "category": "browse"}]
