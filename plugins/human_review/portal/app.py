"""The ASGI app of the local review service: the A2I runtime API at the root, the worker portal at /worker."""

from __future__ import annotations

import logging
import secrets
import threading
import time
import weakref
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Callable

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from human_review.token_bucket import TokenBucket

from human_review import config
from human_review.config import FlowDefinitionConfig
from human_review.portal import runtime_api, worker
from human_review.portal.auth import Revoked, cross_site_refusal, read_users
from human_review.portal.errors import A2IError, a2i_error_response, detail_response
from human_review.portal.limits import BodySizeLimit, BodyTooLarge, refusal
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
        # flow definition name -> (dag_id, [(source bucket, source prefix)]): what the image proxy
        # may serve for a loop of that flow, and whose DAG permissions govern reviewing it.
        self._flow_pipelines: dict[str, tuple[str, list[tuple[str, str]]]] = {}
        self.revoked_sessions = Revoked()
        # Standalone sign-in: the users file, read once (None: no password sign-in configured).
        self.users = read_users(settings.users_file) if settings.users_file else None
        # Set by the Airflow plugin: (request, dag_id) -> may this user review loops of that DAG?
        self.can_review: Callable[[Any, str], bool] | None = None
        self._loaded_at = 0.0
        self._flows_lock = threading.Lock()
        rps = settings.api_requests_per_second
        self.rate_limiter = TokenBucket(rps) if rps else None
        # Set by create_app: True when the worker's identity comes from a host's auth (Airflow).
        self.external_identity = False
        self.reload_flow_definitions()
        self._sweeper: threading.Thread | None = None
        self._pending_seen: set[str] = set()
        self._stop_sweeping = threading.Event()
        if settings.sweep_interval_seconds:
            self.start_sweeper(settings.sweep_interval_seconds)

    # ---- the background sweep ---------------------------------------------------------------

    def sweep(self) -> None:
        """Write down expiries, stops and lapsed claims; retry output.json files that failed."""
        changed = self.store.sweep()
        if any(changed.values()):
            log.debug("review service sweep: %s", changed)
        # A loop whose last answer just came in is queued by that submit already: retry only loops
        # that were pending at the previous sweep too (queued on the output threads, not waited for).
        pending = {loop.name: loop for loop in self.store.loops_to_finalize()}
        for name in pending.keys() & self._pending_seen:
            self.writer.finalize_later(pending[name])
        self._pending_seen = set(pending)

    def start_sweeper(self, interval: float) -> None:
        """A daemon thread that sweeps every `interval` seconds until `close()` (or the store is disposed).

        It holds the service weakly, so a service nobody references any more stops being swept."""
        ref = weakref.ref(self)
        stop = self._stop_sweeping

        def run() -> None:
            while not stop.wait(interval):
                svc = ref()
                if svc is None or svc.store.closed:
                    return
                try:
                    svc.sweep()
                except Exception:  # noqa: BLE001 - a failed sweep is retried at the next interval
                    log.exception("review service: the background sweep failed; retrying in %.1f s", interval)
                del svc

        self._sweeper = threading.Thread(target=run, name="review-service-sweep", daemon=True)
        self._sweeper.start()

    def close(self) -> None:
        self._stop_sweeping.set()
        if self._sweeper is not None and self._sweeper is not threading.current_thread():
            self._sweeper.join(5)
        self.writer.close()
        self.store.dispose()

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
        pipelines: dict[str, tuple[str, list[tuple[str, str]]]] = {}
        for c in configs:
            fd = c.review.flow_definition
            if fd.name in flows:
                log.warning("review service: flow definition %r is defined twice; keeping the first", fd.name)
                continue
            flows[fd.name] = fd
            pipelines[fd.name] = (c.dag_id, [(c.source.bucket, c.source.prefix)])
        with self._flows_lock:
            self._flows = flows
            self._flow_pipelines = pipelines
            self._loaded_at = time.monotonic()

    def flow_definitions(self) -> dict[str, FlowDefinitionConfig]:
        return dict(self._flows)

    def flow_dag_id(self, name: str) -> str | None:
        """The DAG id of the pipeline whose flow definition this is (None: not configured)."""
        self.flow_definition(name)
        entry = self._flow_pipelines.get(name)
        return entry[0] if entry else None

    def is_source_object(self, flow_name: str, bucket: str, key: str) -> bool:
        """Whether s3://bucket/key lies under the source bucket/prefix of the flow's pipeline."""
        self.flow_definition(flow_name)
        entry = self._flow_pipelines.get(flow_name)
        return bool(entry) and any(bucket == b and key.startswith(p) for b, p in entry[1])

    def may_review(self, request, flow_name: str) -> bool:
        """Whether the signed-in user may see and answer this flow's queue (always, standalone)."""
        if self.can_review is None:
            return True
        dag_id = self.flow_dag_id(flow_name)
        return dag_id is not None and self.can_review(request, dag_id)

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
    docs = settings.expose_docs

    @asynccontextmanager
    async def _lifespan(_app):
        yield
        # Standalone shutdown: finish the output.json writes already queued (what is left is
        # still in the database and written at the next start). Mounted in Airflow, no lifespan runs.
        await run_in_threadpool(service.close)

    app = FastAPI(
        lifespan=_lifespan,
        title="Human review: local A2I-compatible review service",
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.review_service = service

    @app.exception_handler(A2IError)
    async def _a2i_error(_request: Request, exc: A2IError):
        return a2i_error_response(exc)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(request: Request, _exc: BodyTooLarge):
        from fastapi.responses import Response

        status, headers, body = refusal(request.url.path, settings.max_request_bytes)
        return Response(body, status_code=status, headers={k.decode(): v.decode() for k, v in headers})

    @app.exception_handler(Exception)
    async def _unanticipated(request: Request, exc: Exception):
        # An error nobody anticipated: the runtime API answers A2I's InternalServerException
        # (HTTP 500, x-amzn-ErrorType) so boto3 raises the modelled exception and callers retry.
        log.exception("review service: unanticipated error on %s %s", request.method, request.url.path)
        if request.url.path.startswith("/worker"):
            return detail_response(500, "Internal error of the review service; try again.")
        return a2i_error_response(A2IError("InternalServerException", "An internal error occurred; try again."))

    @app.get("/", include_in_schema=False)
    def _root(request: Request):
        return RedirectResponse(f"{request.scope.get('root_path', '').rstrip('/')}/worker/", status_code=307)

    @app.get("/healthz", include_in_schema=False)
    def _health():
        # The flow list tells a stranger what is reviewed here: dev stacks only.
        if docs:
            return {"status": "ok", "flowDefinitions": sorted(service.flow_definitions())}
        return {"status": "ok"}

    def _same_origin(request: Request) -> None:
        # Every state-changing /worker request (login included) must come from the portal's own pages.
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            why = cross_site_refusal(request, settings.trusted_origins)
            if why:
                raise HTTPException(403, why)

    app.include_router(runtime_api.router)
    if worker_identity is not None:

        async def _identity(request: Request, worker_id: str = Depends(worker_identity)) -> None:
            request.state.human_review_worker = worker_id

        app.include_router(worker.router, dependencies=[Depends(_same_origin), Depends(_identity)])
    else:
        app.include_router(worker.router, dependencies=[Depends(_same_origin)])
    app.mount("/worker/static", StaticFiles(directory=STATIC_DIR), name="worker-static")
    # Outermost: refuse an oversized body before any route (SigV4 included) reads it.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    return app


def create_app_from_env() -> FastAPI:
    """The app factory uvicorn's workers call (`human-review portal --workers N`): settings from the
    environment (`PortalSettings.from_env`), which the command fills in before it starts them."""
    return create_app(PortalSettings.from_env())
