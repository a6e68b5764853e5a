"""The ASGI app of the local review service: the A2I runtime API at the root, the worker portal at /worker."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Callable

from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from human_review.token_bucket import TokenBucket

from human_review import config
from human_review.config import FlowDefinitionConfig
from human_review.portal import runtime_api, worker
from human_review.portal.outputs import OutputWriter
from human_review.portal.settings import PortalSettings
from human_review.portal.store import Store

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"


class ReviewService:
    """Everything a request needs: settings, the store, the output writer and the flow definitions."""

    def __init__(self, settings: PortalSettings):
        self.settings = settings
        self.pipelines_dir = settings.pipelines_dir or config.PIPELINES_DIR
        self.store = Store(settings.database_url, clock=settings.clock)
        self.secret = (settings.secret_key or secrets.token_hex(32)).encode()
        self._s3 = None
        self._s3_lock = threading.Lock()
        self.writer = OutputWriter(self.store, self.s3_client, settings.issuer)
        self._flows: dict[str, FlowDefinitionConfig] = {}
        self._loaded_at = 0.0
        self._flows_lock = threading.Lock()
        rps = settings.api_requests_per_second
        self.rate_limiter = TokenBucket(rps) if rps else None
        # Set by create_app: True when the worker's identity comes from a host's auth (Airflow).
        self.external_identity = False
        self.reload_flow_definitions()

    def s3_client(self):
        with self._s3_lock:
            if self._s3 is None:
                self._s3 = self.settings.s3_client()
            return self._s3

    def reload_flow_definitions(self) -> None:
        configs, errors = config.load_all(self.pipelines_dir)
        for err in errors:
            log.warning("review service: skipping pipeline file: %s", err)
        flows: dict[str, FlowDefinitionConfig] = {}
        for c in configs:
            fd = c.review.flow_definition
            if fd.name in flows:
                log.warning("review service: flow definition %r is defined twice; keeping the first", fd.name)
                continue
            flows[fd.name] = fd
        with self._flows_lock:
            self._flows = flows
            self._loaded_at = time.monotonic()

    def flow_definitions(self) -> dict[str, FlowDefinitionConfig]:
        return dict(self._flows)

    def flow_definition(self, name: str) -> FlowDefinitionConfig | None:
        flow = self._flows.get(name)
        if flow is None and time.monotonic() - self._loaded_at > 2.0:
            self.reload_flow_definitions()  # a pipeline file added while the service runs
            flow = self._flows.get(name)
        return flow


def create_app(settings: PortalSettings, worker_identity: Callable[..., Any] | None = None) -> FastAPI:
    """The service's ASGI app.

    `worker_identity`: an optional FastAPI dependency that authenticates the reviewer for every
    `/worker` route and returns the worker id (the Airflow plugin passes one built on Airflow's auth
    manager). Without it the portal has its own simple sign-in (a name in a signed cookie).
    """
    service = ReviewService(settings)
    service.external_identity = worker_identity is not None
    app = FastAPI(
        title="Human review: local A2I-compatible review service",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.review_service = service

    @app.exception_handler(runtime_api.A2IError)
    async def _a2i_error(_request: Request, exc: runtime_api.A2IError):
        return runtime_api.a2i_error_response(exc)

    @app.get("/", include_in_schema=False)
    def _root(request: Request):
        return RedirectResponse(f"{request.scope.get('root_path', '').rstrip('/')}/worker/", status_code=307)

    @app.get("/healthz", include_in_schema=False)
    def _health():
        return {"status": "ok", "flowDefinitions": sorted(service.flow_definitions())}

    app.include_router(runtime_api.router)
    if worker_identity is not None:

        async def _identity(request: Request, worker_id: str = Depends(worker_identity)) -> None:
            request.state.human_review_worker = worker_id

        app.include_router(worker.router, dependencies=[Depends(_identity)])
    else:
        app.include_router(worker.router)
    app.mount("/worker/static", StaticFiles(directory=STATIC_DIR), name="worker-static")
    return app
