"""Mounts the local review service inside Airflow's api-server at /review and adds "Review queue" to the UI.

Reviewers sign in with Airflow's own auth manager: every ``/review/worker`` route depends on
``requires_authenticated()`` (the UI's ``_token`` cookie and ``Authorization: Bearer`` tokens both
pass) and the worker id is the Airflow user name. The A2I runtime API under ``/review`` keeps
its own SigV4 authentication, so an Airflow AWS connection with ``endpoint_url`` set to
``<api-server>/review`` reaches it with the real boto3 client.

Settings come from the environment (``PortalSettings.from_env``: HUMAN_REVIEW_PORTAL_DB_URL,
HUMAN_REVIEW_S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...). The app (and its database) is built on the
first request only, so the scheduler and other components that import plugins pay nothing.
Set HUMAN_REVIEW_PORTAL_IN_AIRFLOW=false to leave it out.
"""

from __future__ import annotations

import os
import threading

from airflow.plugins_manager import AirflowPlugin

_ENABLED = os.environ.get("HUMAN_REVIEW_PORTAL_IN_AIRFLOW", "true").lower() not in ("0", "false", "no")


def airflow_worker_identity():
    """A FastAPI dependency: the signed-in Airflow user's name (401 when not signed in)."""
    from fastapi import Depends

    from airflow.api_fastapi.core_api.security import get_user, requires_authenticated

    def identity(_auth: None = Depends(requires_authenticated()), user=Depends(get_user)) -> str:
        return user.get_name()

    return identity


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
        return create_app(settings, worker_identity=airflow_worker_identity())

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
