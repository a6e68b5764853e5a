"""The worker portal under ``/worker``: sign in, pick a queue, claim a task, answer it.

Browsers and the simulated reviewers use the same routes. Pages use relative URLs only, so the
app also works mounted under a prefix (e.g. ``/review`` inside Airflow's api-server); redirects are
built from the ASGI ``root_path``.

Identity: a signed session cookie set by ``POST /worker/login`` (a name is enough for now), or, for
cookie-less JSON calls, the ``X-Worker-Id`` header.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import time
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse

from human_review.exceptions import error_code
from human_review.portal.render import TemplateRenderError, render_template, strip_external_scripts
from human_review.portal.store import StoreError

COOKIE = "human_review_worker"
WORKER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+\-]{0,127}$")
PAGES = Path(__file__).parent / "pages"
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'self'"
)

router = APIRouter(prefix="/worker")


# ---- signing helpers --------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(secret: bytes, payload: dict[str, Any]) -> str:
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    mac = _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())
    return f"{body}.{mac}"


def unsign(secret: bytes, token: str) -> dict[str, Any] | None:
    try:
        body, mac = token.split(".", 1)
        expected = _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(mac, expected):
            return None
        data = json.loads(_unb64(body))
        return data if isinstance(data, dict) else None
    except (ValueError, TypeError):
        return None


def image_token(secret: bytes, s3_uri: str, ttl_seconds: int, *, worker_id: str = "", task_id: str = "") -> str:
    """A short-lived token for one object, bound to the reviewer and the task that references it."""
    bucket, _, key = s3_uri.removeprefix("s3://").partition("/")
    return sign(secret, {"b": bucket, "k": key, "e": int(time.time()) + ttl_seconds, "w": worker_id, "t": task_id})


def s3_uris(value: Any) -> set[str]:
    """Every s3:// URI string anywhere in a task input."""
    out: set[str] = set()
    if isinstance(value, str):
        if value.startswith("s3://"):
            out.add(value)
    elif isinstance(value, dict):
        for v in value.values():
            out |= s3_uris(v)
    elif isinstance(value, list):
        for v in value:
            out |= s3_uris(v)
    return out


# ---- request helpers --------------------------------------------------------------------------


def _service(request: Request):
    return request.app.state.review_service


def _root(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")


def current_worker(request: Request) -> str | None:
    service = _service(request)
    external = getattr(request.state, "human_review_worker", None)
    if external is not None or service.external_identity:
        # Inside Airflow: the auth manager's user name, nothing else.
        return external if isinstance(external, str) and WORKER_ID.match(external) else None
    cookie = request.cookies.get(COOKIE)
    if cookie:
        data = unsign(service.secret, cookie)
        if data and isinstance(data.get("w"), str) and WORKER_ID.match(data["w"]):
            return data["w"]
    header = request.headers.get("x-worker-id")
    if header and service.settings.allow_worker_id_header and WORKER_ID.match(header):
        return header
    return None


def _json_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


_STORE_STATUS = {"not_found": 404, "conflict": 409, "forbidden": 403, "invalid": 400}


def _page(title: str, body: str, status: int = 200, *, scripts: str = "", nav: str = "",
          script_origins: tuple[str, ...] = ()) -> HTMLResponse:
    layout = Template((PAGES / "layout.html").read_text(encoding="utf-8"))
    text = layout.substitute(title=html.escape(title), body=body, scripts=scripts, nav=nav)
    csp = CSP.replace("script-src 'self'", " ".join(["script-src 'self'", *script_origins])) if script_origins else CSP
    return HTMLResponse(text, status_code=status, headers={"Content-Security-Policy": csp, "Cache-Control": "no-store"})


def _claim_payload(request: Request, task, loop) -> dict[str, Any]:
    return {
        "taskId": task.task_id,
        "humanLoopName": loop.name,
        "flowDefinitionName": loop.flow_definition_name,
        "input": loop.input,
        "taskUrl": f"{_root(request)}/worker/tasks/{task.task_id}",
        "claimExpiresAt": task.claim_expires_at.isoformat() if task.claim_expires_at else None,
    }


# ---- pages ------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(request: Request):
    service = _service(request)
    worker = current_worker(request)
    if worker is None:
        body = """
<section class="card">
  <h2>Sign in</h2>
  <form method="post" action="login">
    <label>Worker name <input name="worker_id" required pattern="[A-Za-z0-9][A-Za-z0-9._@+\\-]{0,127}"
      autocomplete="username" autofocus></label>
    <button type="submit">Sign in</button>
  </form>
</section>"""
        return _page("Human review: sign in", body)
    counts = service.store.queue_counts(worker)
    rows = []
    names = sorted(set(service.flow_definitions()) | set(counts))
    for name in names:
        flow = service.flow_definition(name)
        c = counts.get(name, {"available": 0, "inProgressLoops": 0})
        title = flow.title if flow else name
        desc = flow.description if flow else ""
        rows.append(
            f"""<tr><td><strong>{html.escape(title)}</strong><br><small>{html.escape(name)}</small></td>
<td>{html.escape(desc)}</td><td class="num">{c['available']}</td><td class="num">{c['inProgressLoops']}</td>
<td><form method="post" action="queues/{quote(name)}/next"><button {'disabled' if not c['available'] else ''}>Start working</button></form></td></tr>"""
        )
    msg = ""
    if request.query_params.get("empty"):
        msg = f'<p class="notice">No more tasks for you in {html.escape(request.query_params["empty"])}.</p>'
    if request.query_params.get("msg"):
        msg += f'<p class="notice">{html.escape(request.query_params["msg"])}</p>'
    body = f"""{msg}
<section class="card">
  <h2>Queues</h2>
  <table><thead><tr><th>Queue</th><th>Task</th><th>Available to you</th><th>Open loops</th><th></th></tr></thead>
  <tbody>{''.join(rows) or '<tr><td colspan="5">No flow definitions.</td></tr>'}</tbody></table>
</section>"""
    nav = f'Signed in as <strong>{html.escape(worker)}</strong>'
    if not service.external_identity:
        nav += ' <form method="post" action="logout" class="inline"><button>Sign out</button></form>'
    return _page("Human review: queues", body, nav=nav)


@router.post("/login")
async def login(request: Request):
    service = _service(request)
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    worker = (form.get("worker_id") or [""])[0].strip()
    if not WORKER_ID.match(worker):
        return _page(
            "Human review: sign in",
            '<p class="notice">A worker name is letters, digits and . _ @ + - (up to 128 characters).</p>'
            '<p><a href="./">Back</a></p>',
            status=400,
        )
    resp = RedirectResponse(f"{_root(request)}/worker/", status_code=303)
    resp.set_cookie(COOKIE, sign(service.secret, {"w": worker}), httponly=True, samesite="lax", path="/")
    return resp


@router.post("/logout")
def logout(request: Request):
    resp = RedirectResponse(f"{_root(request)}/worker/", status_code=303)
    resp.delete_cookie(COOKIE, path="/")
    return resp


@router.post("/queues/{flow_definition_name}/next")
def next_task(flow_definition_name: str, request: Request):
    """Browser flow: claim the next task of a queue and go to its page (or back to the queues)."""
    worker = current_worker(request)
    if worker is None:
        return RedirectResponse(f"{_root(request)}/worker/", status_code=303)
    claimed = _service(request).store.claim(flow_definition_name, worker)
    if claimed is None:
        return RedirectResponse(f"{_root(request)}/worker/?empty={quote(flow_definition_name)}", status_code=303)
    return RedirectResponse(f"{_root(request)}/worker/tasks/{claimed[0].task_id}", status_code=303)


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
def task_page(task_id: str, request: Request):
    service = _service(request)
    worker = current_worker(request)
    if worker is None:
        return RedirectResponse(f"{_root(request)}/worker/", status_code=303)
    try:
        task, loop = service.store.get_task(task_id, worker)
    except StoreError as e:
        return _page("Human review: task", f'<p class="notice">{html.escape(e.message)}</p><p><a href="../">Back to the queues</a></p>',
                     status=_STORE_STATUS.get(e.kind, 400))
    flow = service.flow_definition(loop.flow_definition_name)
    if flow is None:
        return _page("Human review: task", f'<p class="notice">Flow definition {html.escape(loop.flow_definition_name)} is no longer configured.</p>', status=500)
    try:
        template_text = flow.template_path.read_text(encoding="utf-8")
        rendered = render_template(
            template_text,
            loop.input,
            image_url=lambda uri: "../images?token=" + image_token(
                service.secret, uri, service.settings.image_token_ttl_seconds, worker_id=worker, task_id=task.task_id
            ),
        )
    except (OSError, TemplateRenderError) as e:
        return _page("Human review: task", f'<p class="notice">{html.escape(str(e))}</p>', status=500)
    origins = tuple(service.settings.script_origins)
    rendered, dropped = strip_external_scripts(rendered, "../static/crowd-html-elements.js", origins)
    if dropped:
        listed = ", ".join(html.escape(d) for d in dropped)
        rendered = (f'<p class="notice">This template loads scripts the local review service '
                    f'does not fetch ({listed}), so parts of it may not work. An administrator can allow their '
                    f'origins with HUMAN_REVIEW_PORTAL_SCRIPT_ORIGINS.</p>' + rendered)
    deadline = task.claim_expires_at.strftime("%H:%M:%S UTC") if task.claim_expires_at else ""
    body = f"""
<section class="task-head card">
  <h2>{html.escape(flow.title)}</h2>
  <p>{html.escape(flow.description)}</p>
  <p><small>Human loop <code>{html.escape(loop.name)}</code>; answer {task.slot + 1} of {loop.task_count};
  submit before {deadline}.</small></p>
  <form method="post" action="{html.escape(task.task_id)}/release" class="inline"><button>Release this task</button></form>
</section>
<main id="hr-task" class="card" data-task-id="{html.escape(task.task_id)}"
  data-submit-url="../api/tasks/{html.escape(task.task_id)}/submit"
  data-claim-url="../api/queues/{html.escape(quote(loop.flow_definition_name))}/claim"
  data-task-base="./" data-home-url="../">
{rendered}
</main>"""
    scripts = '<script defer src="../static/crowd-html-elements.js"></script>' if "crowd-html-elements.js" not in rendered else ""
    nav = f'Signed in as <strong>{html.escape(worker)}</strong> · <a href="../">Queues</a>'
    return _page(f"{flow.title}: {loop.name}", body, scripts=scripts, nav=nav, script_origins=origins)


@router.post("/tasks/{task_id}/release")
def release_page(task_id: str, request: Request):
    worker = current_worker(request)
    if worker is not None:
        try:
            _service(request).store.release(task_id, worker)
        except StoreError:
            pass
    return RedirectResponse(f"{_root(request)}/worker/?msg=Task+released", status_code=303)


@router.get("/images")
def image_proxy(token: str, request: Request):
    service = _service(request)
    data = unsign(service.secret, token)
    if not data or not isinstance(data.get("e"), int) or data["e"] < time.time():
        return _json_error(403, "The image link is invalid or has expired; reload the task.")
    # The proxy serves only objects referenced by an open task this reviewer holds: a valid token
    # for another reviewer, another task, or an object the task does not reference is refused.
    worker = current_worker(request)
    if worker is None or data.get("w") != worker or not isinstance(data.get("t"), str) or not data["t"]:
        return _json_error(403, "This image link belongs to another reviewer or session.")
    try:
        _task, loop = service.store.get_task(data["t"], worker)
    except StoreError:
        return _json_error(403, "This image belongs to no task you hold open; reload the task.")
    if f"s3://{data['b']}/{data['k']}" not in s3_uris(loop.input):
        return _json_error(403, "This object is not part of your task.")
    try:
        obj = service.s3_client().get_object(Bucket=data["b"], Key=data["k"])
    except Exception as e:  # botocore ClientError, connection errors
        code = error_code(e)
        status = 404 if code in ("NoSuchKey", "NoSuchBucket", "404") else 502
        return _json_error(status, f"Cannot read s3://{data['b']}/{data['k']}: {code}")
    return StreamingResponse(
        obj["Body"].iter_chunks(64 * 1024),
        media_type=obj.get("ContentType") or "application/octet-stream",
        headers={"Cache-Control": "private, max-age=300"},
    )


# ---- JSON API ---------------------------------------------------------------------------------


@router.get("/api/queues")
def api_queues(request: Request):
    service = _service(request)
    worker = current_worker(request)
    if worker is None:
        return _json_error(401, "Sign in first (POST /worker/login) or send X-Worker-Id.")
    counts = service.store.queue_counts(worker)
    out = []
    for name in sorted(set(service.flow_definitions()) | set(counts)):
        flow = service.flow_definition(name)
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


@router.post("/api/queues/{flow_definition_name}/claim")
def api_claim(flow_definition_name: str, request: Request):
    service = _service(request)
    worker = current_worker(request)
    if worker is None:
        return _json_error(401, "Sign in first (POST /worker/login) or send X-Worker-Id.")
    claimed = service.store.claim(flow_definition_name, worker)
    if claimed is None:
        return Response(status_code=204)
    return _claim_payload(request, *claimed)


@router.post("/api/tasks/{task_id}/submit")
async def api_submit(task_id: str, request: Request):
    service = _service(request)
    worker = current_worker(request)
    if worker is None:
        return _json_error(401, "Sign in first (POST /worker/login) or send X-Worker-Id.")
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        return _json_error(400, "The body is not JSON.")
    if not isinstance(body, dict) or not isinstance(body.get("answerContent"), dict):
        return _json_error(400, 'The body must be {"answerContent": {...}}.')
    try:
        loop = service.store.submit(task_id, worker, body["answerContent"])
    except StoreError as e:
        return _json_error(_STORE_STATUS.get(e.kind, 400), e.message)
    if loop.answered_count >= loop.task_count:
        service.writer.finalize(loop)
        loop = service.store.get_loop(loop.name, refresh=False) or loop
    return {"humanLoopName": loop.name, "humanLoopStatus": loop.status, "answers": loop.answered_count, "taskCount": loop.task_count}


@router.post("/api/tasks/{task_id}/release")
def api_release(task_id: str, request: Request):
    worker = current_worker(request)
    if worker is None:
        return _json_error(401, "Sign in first (POST /worker/login) or send X-Worker-Id.")
    try:
        _service(request).store.release(task_id, worker)
    except StoreError as e:
        return _json_error(_STORE_STATUS.get(e.kind, 400), e.message)
    return {"released": task_id}
