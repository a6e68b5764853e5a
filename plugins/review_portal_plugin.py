"""Mounts the local review service inside Airflow's api-server at /review and adds "Review queue" to the UI.

Reviewers sign in with Airflow's own auth manager: every ``/review/worker`` route depends on
``requires_authenticated()`` (the UI's ``_token`` cookie and ``Authorization: Bearer`` tokens both
pass) and the worker id is the Airflow user name. The A2I runtime API under ``/review`` keeps
its own SigV4 authentication, so an Airflow AWS connection with ``endpoint_url`` set to
``<api-server>/review`` reaches it with the real boto3 client.

Per pipeline, Airflow's auth manager decides who may review: a queue is listed, claimed, shown and
answered (and its images served) only for users the auth manager allows the reviewing action on the
pipeline's DAG: ``HUMAN_REVIEW_REVIEW_ACCESS``, default ``PUT:HITL_DETAIL`` (the permission that
answers Airflow's own human-in-the-loop tasks), or e.g. ``GET`` (anyone who may read the DAG).
See docs/security.md for giving a reviewer group one pipeline.

Settings come from the environment (``PortalSettings.from_env``: HUMAN_REVIEW_PORTAL_DB_URL,
HUMAN_REVIEW_S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...). The app (and its database) is built on the
first request only, so the scheduler and other components that import plugins pay nothing.
Set HUMAN_REVIEW_PORTAL_IN_AIRFLOW=false to leave it out.
"""

from __future__ import annotations

import os
import threading

from airflow.plugins_manager import AirflowPlugin
from fastapi import Request  # module level: the dependency below names it in a (string) annotation

_ENABLED = os.environ.get("HUMAN_REVIEW_PORTAL_IN_AIRFLOW", "true").lower() not in ("0", "false", "no")


def review_access(environ=None) -> tuple[str, str | None]:
    """(method, DagAccessEntity name or None) a reviewer needs on a pipeline's DAG."""
    raw = (environ if environ is not None else os.environ).get("HUMAN_REVIEW_REVIEW_ACCESS", "PUT:HITL_DETAIL")
    method, _, entity = raw.strip().partition(":")
    if method.upper() not in ("GET", "PUT", "POST", "DELETE"):
        raise ValueError(f"HUMAN_REVIEW_REVIEW_ACCESS={raw!r}: the method must be GET, PUT, POST or DELETE")
    return method.upper(), entity.strip().upper() or None


def airflow_worker_identity():
    """A FastAPI dependency: the signed-in Airflow user's name (401 when not signed in)."""
    from fastapi import Depends

    from airflow.api_fastapi.core_api.security import get_user, requires_authenticated

    def identity(request: Request, _auth: None = Depends(requires_authenticated()), user=Depends(get_user)) -> str:
        request.state.human_review_airflow_user = user
        return user.get_name()

    return identity


def dag_permission(method: str, entity: str | None):
    """`(request, dag_id) -> bool`: what ``requires_access_dag(method, entity)`` would decide for the
    signed-in user on that DAG (team included), asked of the configured auth manager."""

    def allowed(request, dag_id: str) -> bool:
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
        from airflow.models.dag import DagModel

        user = getattr(request.state, "human_review_airflow_user", None)
        if user is None:
            return False
        try:
            team = DagModel.get_team_name(dag_id)
        except Exception:  # noqa: BLE001  no metadata DB row (yet): no team
            team = None
        return get_auth_manager().is_authorized_dag(
            method=method, access_entity=DagAccessEntity[entity] if entity else None,
            details=DagDetails(id=dag_id, team_name=team), user=user)

    return allowed


def _send_browsers_to_sign_in(app) -> None:
    """A signed-out browser opening a queue or task page goes to Airflow's sign-in and comes back;
    API clients (no text/html in Accept) still get the 401."""
    from fastapi.exception_handlers import http_exception_handler
    from fastapi.responses import RedirectResponse
    from starlette.exceptions import HTTPException

    @app.exception_handler(HTTPException)
    async def _sign_in_first(request: Request, exc: HTTPException):
        page = request.method == "GET" and "/api/" not in request.url.path
        if exc.status_code == 401 and page and "text/html" in request.headers.get("accept", ""):
            from airflow.api_fastapi.app import get_auth_manager

            return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)), status_code=303)
        return await http_exception_handler(request, exc)


class LazyReviewApp:
    """An ASGI app that builds the review service on first use (not at plugin import)."""

    def __init__(self) -> None:
        self._app = None
        self._lock = threading.Lock()

    def _build(self):
        from human_review.portal.app import create_app
        from human_review.portal.settings import PortalSettings

        settings = PortalSettings.from_env()
        settings.allow_worker_id_header = False
        settings.open_sign_in = False
        app = create_app(settings, worker_identity=airflow_worker_identity())
        app.state.review_service.can_review = dag_permission(*review_access())
        _send_browsers_to_sign_in(app)
        return app

    @property
    def app(self):
        if self._app is None:
            with self._lock:
                if self._app is None:
                    self._app = self._build()
        return self._app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":  # the service needs no startup work
            message = await receive()
            while message["type"] != "lifespan.shutdown":
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        await self.app(scope, receive, send)


review_app = LazyReviewApp()


class ReviewPortalPlugin(AirflowPlugin):
    name = "human_review_portal"
    fastapi_apps = (
        [{"app": review_app, "url_prefix": "/review", "name": "Human review (local A2I-compatible service)"}]
        if _ENABLED
        else []
    )
    external_views = (
        [
            {
                "name": "Review queue",
                "href": "/review/worker/",
                "destination": "nav",
                "url_route": "review-queue",
            }
        ]
        if _ENABLED
        else []
    )
