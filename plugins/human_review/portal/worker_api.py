"""The worker portal's JSON API under ``/worker/api``: the task page's script and the simulated
reviewers list queues, claim tasks, submit and release answers through it.

Errors are ``{"detail": ...}``; a store refusal gets the status its ``StoreError`` kind carries.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from human_review.portal import answers
from human_review.portal.context import current_worker, root, service
from human_review.portal.errors import StoreError, detail_response
from human_review.portal.render import TemplateRenderError, render_task_file

router = APIRouter(prefix="/worker/api")

SIGN_IN_FIRST = "Sign in first (POST /worker/login)."


def _no_constants(name: str):
    raise ValueError(f"{name} is not JSON")


def _answer_problems(svc, request: Request, task_id: str, worker: str, content: dict) -> tuple[int, str] | None:
    """Why this answer is refused (status, message), or None: the task must be this reviewer's,
    in a queue they may review, and the answer must have the shape its template's elements give."""
    try:
        _task, loop = svc.store.get_task(task_id, worker)
    except StoreError as e:
        return e.status, e.message
    if not svc.may_review(request, loop.flow_definition_name):
        return 403, "You may not review this queue."
    flow = svc.flow_definition(loop.flow_definition_name)
    elements = None
    schemas: dict[str, Any] = {}
    if flow is not None:
        try:
            rendered = render_task_file(flow.template_path, loop.input).html  # as the task page renders it
            elements, schemas = answers.rules(rendered)
        except (OSError, TemplateRenderError):
            elements = None  # the page could not be shown either; the structural check still runs
    found = answers.check(content, elements, schemas)
    if found:
        more = f" (and {len(found) - 5} more)" if len(found) > 5 else ""
        return 400, "The answer does not fit the task's template: " + "; ".join(found[:5]) + more
    return None


def _claim_payload(request: Request, task, loop) -> dict[str, Any]:
    return {
        "taskId": task.task_id,
        "humanLoopName": loop.name,
        "flowDefinitionName": loop.flow_definition_name,
        "input": loop.input,
        "taskUrl": f"{root(request)}/worker/tasks/{task.task_id}",
        "claimExpiresAt": task.claim_expires_at.isoformat() if task.claim_expires_at else None,
    }


@router.get("/queues")
def api_queues(request: Request):
    svc = service(request)
    worker = current_worker(request)
    if worker is None:
        return detail_response(401, SIGN_IN_FIRST)
    counts = svc.store.queue_counts(worker)
    out = []
    for name in sorted(set(svc.flow_definitions()) | set(counts)):
        if not svc.may_review(request, name):
            continue
        flow = svc.flow_definition(name)
        c = counts.get(name, {"available": 0, "inProgressLoops": 0})
        out.append(
            {
                "flowDefinitionName": name,
                "title": flow.title if flow else name,
                "description": flow.description if flow else "",
                "available": c["available"],
                "inProgressLoops": c["inProgressLoops"],
            }
        )
    return {"workerId": worker, "queues": out}


@router.post("/queues/{flow_definition_name}/claim")
def api_claim(flow_definition_name: str, request: Request):
    worker = current_worker(request)
    if worker is None:
        return detail_response(401, SIGN_IN_FIRST)
    if not service(request).may_review(request, flow_definition_name):
        return detail_response(403, "You may not review this queue.")
    claimed = service(request).store.claim(flow_definition_name, worker)
    if claimed is None:
        return Response(status_code=204)
    return _claim_payload(request, *claimed)


@router.post("/tasks/{task_id}/submit")
async def api_submit(task_id: str, request: Request):
    svc = service(request)
    worker = current_worker(request)
    if worker is None:
        return detail_response(401, SIGN_IN_FIRST)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        # A cross-site form can send text/plain without a preflight; the task page sends JSON.
        return detail_response(415, "Submit the answer as application/json.")
    raw = await request.body()
    limit = svc.settings.max_answer_bytes
    if len(raw) > limit:
        return detail_response(413, f"The answer is larger than {limit} bytes.")
    try:
        body = json.loads(raw or b"null", parse_constant=_no_constants)
    except (ValueError, RecursionError):
        return detail_response(400, "The body is not JSON (or is nested too deeply).")
    if not isinstance(body, dict) or not isinstance(body.get("answerContent"), dict):
        return detail_response(400, 'The body must be {"answerContent": {...}}.')
    refused = await run_in_threadpool(_answer_problems, svc, request, task_id, worker, body["answerContent"])
    if refused:
        return detail_response(*refused)
    active = body.get("activeSeconds")
    # The page's measure of the reviewer's active time (timeSpentInSeconds); anything else is ignored.
    active = float(active) if isinstance(active, (int, float)) and not isinstance(active, bool) and active >= 0 else None
    try:  # off the event loop: the store and the output.json write block
        loop = await run_in_threadpool(_submit, svc, task_id, worker, body["answerContent"], active)
    except StoreError as e:
        return detail_response(e.status, e.message)
    return {"humanLoopName": loop.name, "humanLoopStatus": loop.status, "answers": loop.answered_count,
            "taskCount": loop.task_count}


def _submit(svc, task_id: str, worker: str, answer: dict[str, Any], active_seconds: float | None = None):
    loop = svc.store.submit(task_id, worker, answer, active_seconds=active_seconds)
    if loop.awaiting_output:
        # The reviewer does not wait for S3: output.json is written in the background, and the
        # loop reads Completed once it is.
        svc.writer.finalize_later(loop)
    return loop


@router.post("/tasks/{task_id}/release")
def api_release(task_id: str, request: Request):
    worker = current_worker(request)
    if worker is None:
        return detail_response(401, SIGN_IN_FIRST)
    try:
        service(request).store.release(task_id, worker)
    except StoreError as e:
        return detail_response(e.status, e.message)
    return {"released": task_id}
