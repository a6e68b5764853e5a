"""What every ``/worker`` route reads from the request: the service, the mount prefix, who is asking.

Identity: inside Airflow, the auth manager's user name (set on ``request.state`` by the app's
dependency) and nothing else. Standalone: the header a trusted proxy sets, only when
``proxy_user_header`` is configured; else a signed, expiring, revocable session cookie set by
``POST /worker/login`` (password from the users file; see ``auth.py``); the ``X-Worker-Id`` header
only when ``allow_worker_id_header`` turns it on (tests, dev stacks).
"""

from __future__ import annotations

import re

from fastapi import Request, Response

from human_review.portal.tokens import session_data, session_token

COOKIE = "human_review_worker"
WORKER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+\-]{0,127}$")


def service(request: Request):
    """The app's ReviewService."""
    return request.app.state.review_service


def root(request: Request) -> str:
    """The prefix the app is mounted under (e.g. ``/review`` in Airflow's api-server), for redirects."""
    return request.scope.get("root_path", "").rstrip("/")


def current_worker(request: Request) -> str | None:
    svc = service(request)
    external = getattr(request.state, "human_review_worker", None)
    if external is not None or svc.external_identity:
        # Inside Airflow: the auth manager's user name, nothing else.
        return external if isinstance(external, str) and WORKER_ID.match(external) else None
    if svc.settings.proxy_user_header:
        # Behind a trusted proxy: its header and nothing else (no cookie, no X-Worker-Id).
        user = request.headers.get(svc.settings.proxy_user_header)
        return user if user and WORKER_ID.match(user) else None
    cookie = request.cookies.get(COOKIE)
    if cookie:
        data = session_data(svc.secret, cookie)
        if data and data["s"] not in svc.revoked_sessions and WORKER_ID.match(data["w"]):
            return data["w"]
    header = request.headers.get("x-worker-id")
    if header and svc.settings.allow_worker_id_header and WORKER_ID.match(header):
        return header
    return None


def sign_in(response: Response, request: Request, worker_id: str) -> None:
    svc = service(request)
    ttl = svc.settings.session_ttl_seconds
    token = session_token(svc.secret, worker_id, ttl)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/", max_age=ttl,
                        secure=request.url.scheme == "https")


def sign_out(response: Response, request: Request | None = None) -> None:
    """Delete the cookie and, with the request, revoke its session so a copied cookie stops working too."""
    if request is not None:
        svc = service(request)
        data = session_data(svc.secret, request.cookies.get(COOKIE) or "")
        if data:
            svc.revoked_sessions.add(data["s"], data["e"])
    response.delete_cookie(COOKIE, path="/")
