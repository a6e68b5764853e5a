"""The worker portal's pages: sign in, pick a queue, claim a task, answer it; and the image proxy.

Pages use relative URLs only, so the app also works mounted under a prefix (e.g. ``/review``
inside Airflow's api-server); redirects are built from the ASGI ``root_path``. The HTML lives in
``pages/`` (rendered by ``page.py``); answers go to the JSON API (``worker_api.py``).
"""

from __future__ import annotations

import re
import secrets
import time
from datetime import datetime, timezone
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from liquid import Markup

from human_review.exceptions import error_code
from human_review.portal import page
from human_review.portal.auth import authenticate
from human_review.portal.image_types import refuse_or_headers
from human_review.portal.context import WORKER_ID, current_worker, root, service, sign_in, sign_out
from human_review.portal.errors import StoreError, detail_response
from human_review.portal.render import TemplateRenderError, render, render_task_file, strip_external_scripts
from human_review.portal.tokens import image_token, unsign

router = APIRouter(prefix="/worker")
_SCRIPT_TAG = re.compile(r"<script(?=[\s>])", re.IGNORECASE)


def _redirect(request: Request, path: str) -> RedirectResponse:
    return RedirectResponse(f"{root(request)}/worker/{path}", status_code=303)


@router.get("/", response_class=HTMLResponse)
def home(request: Request):
    svc = service(request)
    worker = current_worker(request)
    if worker is None:
        return page.render("sign_in.html", needs_password=svc.users is not None,
                           can_sign_in=svc.users is not None or svc.settings.open_sign_in)
    from human_review.portal import queue_info

    counts = svc.store.queue_counts(worker)
    now = datetime.now(timezone.utc)
    queues = []
    arrivals: dict[str, str] | None = None  # read the pipeline files only if some queue is empty
    for name in sorted(set(svc.flow_definitions()) | set(counts)):
        if not svc.may_review(request, name):
            continue
        flow = svc.flow_definition(name)
        c = counts.get(name, {"available": 0, "inProgressLoops": 0})
        tasks = queue_info.open_tasks(svc.store, name, now) if c["inProgressLoops"] else []
        next_work = None
        if not c["available"]:
            if arrivals is None:
                arrivals = queue_info.next_arrivals(svc.pipelines_dir, now)
            next_work = arrivals.get(name)
        queues.append({"name": name, "url_name": quote(name), "title": flow.title if flow else name,
                       "description": flow.description if flow else "",
                       "available": c["available"], "in_progress_loops": c["inProgressLoops"],
                       "tasks": tasks, "next_work": next_work or ""})
    return page.render("queues.html", worker=worker, can_sign_out=not svc.external_identity, queues=queues,
                       empty_queue=request.query_params.get("empty") or None,
                       message=request.query_params.get("msg") or None)


def _sign_in_refused(message: str, status: int) -> HTMLResponse:
    return page.render("notice.html", status=status, title="Human review: sign in", notice=message,
                       back_url="./", back_label="Back")


@router.post("/login")
async def login(request: Request):
    svc = service(request)
    if svc.external_identity or svc.settings.proxy_user_header:
        return _sign_in_refused("Sign in where this portal is hosted; it has no sign-in of its own.", 404)
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    worker = (form.get("worker_id") or [""])[0].strip()
    password = (form.get("password") or [""])[0]
    if not WORKER_ID.match(worker):
        return _sign_in_refused("A worker name is letters, digits and . _ @ + - (up to 128 characters).", 400)
    if svc.users is not None:
        if not authenticate(svc.users, worker, password):
            return _sign_in_refused("Wrong name or password.", 401)
    elif not svc.settings.open_sign_in:
        return _sign_in_refused("This portal has no users configured (HUMAN_REVIEW_PORTAL_USERS_FILE); "
                                "nobody can sign in.", 403)
    resp = _redirect(request, "")
    sign_in(resp, request, worker)
    return resp


@router.post("/logout")
def logout(request: Request):
    resp = _redirect(request, "")
    sign_out(resp, request)
    return resp


@router.post("/queues/{flow_definition_name}/next")
def next_task(flow_definition_name: str, request: Request):
    """Browser flow: claim the next task of a queue and go to its page (or back to the queues)."""
    worker = current_worker(request)
    if worker is None:
        return _redirect(request, "")
    if not service(request).may_review(request, flow_definition_name):
        return _task_notice("You may not review this queue.", 403, back_url="../../", back_label="Back to the queues")
    claimed = service(request).store.claim(flow_definition_name, worker)
    if claimed is None:
        return _redirect(request, f"?empty={quote(flow_definition_name)}")
    return _redirect(request, f"tasks/{claimed[0].task_id}")


def _task_notice(message: str, status: int, **back: str) -> HTMLResponse:
    return page.render("notice.html", status=status, title="Human review: task", notice=message, **back)


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
def task_page(task_id: str, request: Request):
    svc = service(request)
    worker = current_worker(request)
    if worker is None:
        return _redirect(request, "")
    try:
        task, loop = svc.store.get_task(task_id, worker)
    except StoreError as e:
        return _task_notice(e.message, e.status, back_url="../", back_label="Back to the queues")
    if not svc.may_review(request, loop.flow_definition_name):
        return _task_notice("You may not review this queue.", 403, back_url="../", back_label="Back to the queues")
    flow = svc.flow_definition(loop.flow_definition_name)
    if flow is None:
        return _task_notice(f"Flow definition {loop.flow_definition_name} is no longer configured.", 500)
    nonce = secrets.token_urlsafe(16)
    try:
        # The template (an administrator's file) may have inline scripts: stamp this response's
        # nonce on them before rendering, so only the template's own scripts can run.
        template_text = _SCRIPT_TAG.sub(f'<script nonce="{nonce}"', flow.template_path.read_text(encoding="utf-8"))
        result = render(
            template_text,
            loop.input,
            image_url=lambda uri: "../images?token=" + image_token(
                svc.secret, uri, svc.settings.image_token_ttl_seconds, worker_id=worker, task_id=task.task_id
            ),
        )
    except (OSError, TemplateRenderError) as e:
        return _task_notice(str(e), 500)
    origins = tuple(svc.settings.script_origins)
    rendered, dropped = strip_external_scripts(result.html, "../static/crowd-html-elements.js", origins)
    return page.render(
        "task.html",
        script_origins=origins,
        image_origins=tuple(svc.settings.image_origins),
        nonce=nonce,
        worker=worker,
        flow_title=flow.title,
        flow_description=flow.description,
        loop_name=loop.name,
        answer_number=task.slot + 1,
        task_count=loop.task_count,
        deadline=task.claim_expires_at.strftime("%H:%M:%S UTC") if task.claim_expires_at else "",
        deadline_iso=task.claim_expires_at.isoformat() if task.claim_expires_at else "",
        object_key=str((loop.input or {}).get("objectKey") or ""),
        file_name=str((loop.input or {}).get("fileName") or str((loop.input or {}).get("objectKey") or "").rsplit("/", 1)[-1]),
        task_id=task.task_id,
        url_flow_name=quote(loop.flow_definition_name),
        dropped_scripts=dropped,
        # A2I renders an undefined variable as empty; the template's author is told which ones were.
        undefined_variables=result.undefined,
        worker_template=Markup(rendered),
        # strip_external_scripts put the local script where the template loaded AWS's; else add it.
        load_crowd_elements="crowd-html-elements.js" not in rendered,
    )


def _page_objects(svc, loop) -> set[tuple[str, str]]:
    """The S3 objects the task's rendered page references (grant_read_access calls), however built."""
    flow = svc.flow_definition(loop.flow_definition_name)
    if flow is None:
        return set()
    try:
        return set(render_task_file(flow.template_path, loop.input).objects)
    except (OSError, TemplateRenderError):
        return set()


@router.post("/tasks/{task_id}/release")
def release_page(task_id: str, request: Request):
    worker = current_worker(request)
    if worker is not None:
        try:
            service(request).store.release(task_id, worker)
        except StoreError:
            pass
    return _redirect(request, "?msg=Task+released")


@router.get("/images")
def image_proxy(token: str, request: Request):
    svc = service(request)
    data = unsign(svc.secret, token)
    if not data or not isinstance(data.get("e"), int) or data["e"] < time.time():
        return detail_response(403, "The image link is invalid or has expired; reload the task.")
    # The proxy serves only objects referenced by an open task this reviewer holds: a valid token
    # for another reviewer, another task, or an object the task does not reference is refused.
    worker = current_worker(request)
    if worker is None or data.get("w") != worker or not isinstance(data.get("t"), str) or not data["t"]:
        return detail_response(403, "This image link belongs to another reviewer or session.")
    try:
        _task, loop = svc.store.get_task(data["t"], worker)
    except StoreError:
        return detail_response(403, "This image belongs to no task you hold open; reload the task.")
    # Authorised: what the task's rendered page references (an S3 URI from the input, or one the
    # template assembled with capture), re-derived here from the template and the loop's input.
    if (data.get("b"), data.get("k")) not in _page_objects(svc, loop):
        return detail_response(403, "This object is not part of your task.")
    if not svc.may_review(request, loop.flow_definition_name):
        return detail_response(403, "You may not review this queue.")
    # Whoever starts a loop (the runtime API) names the objects; the proxy still serves only what
    # lies under the source bucket/prefix of the loop's pipeline, never an arbitrary object.
    if not svc.is_source_object(loop.flow_definition_name, data["b"], data["k"]):
        return detail_response(403, f"s3://{data['b']}/{data['k']} is outside the source prefix of "
                                    f"{loop.flow_definition_name}'s pipeline; the proxy does not serve it.")
    try:
        obj = svc.s3_client().get_object(Bucket=data["b"], Key=data["k"])
    except Exception as e:  # botocore ClientError, connection errors
        code = error_code(e)
        status = 404 if code in ("NoSuchKey", "NoSuchBucket", "404") else 502
        return detail_response(status, f"Cannot read s3://{data['b']}/{data['k']}: {code}")
    chunks = obj["Body"].iter_chunks(64 * 1024)
    head = next(chunks, b"")
    # The type comes from the bytes, never from the uploader's Content-Type.
    refusal, headers = refuse_or_headers(head, data["k"])
    if refusal:
        obj["Body"].close()
        return detail_response(415, refusal)

    def body():
        yield head
        yield from chunks

    return StreamingResponse(body(), headers={**headers, "Cache-Control": "private, max-age=300"})
