"""Settings of the local review service (also read from the environment by `PortalSettings.from_env`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable


def _default_database_url() -> str:
    # The project's own git-ignored folder, not a shared temp dir other users can read or plant.
    from human_review.config import PROJECT_ROOT

    folder = PROJECT_ROOT / "airflow-home"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'review-service.sqlite'}"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class PortalSettings:
    database_url: str = field(default_factory=_default_database_url)
    # None: the project's include/pipelines (config.PIPELINES_DIR).
    pipelines_dir: Path | None = None
    s3_endpoint_url: str | None = None
    region: str = "us-east-1"
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    # `issuer` in each answer's workerMetadata.identityData of output.json: a URL, as AWS's is
    # (the reserved .invalid domain: it names this service, and resolves nowhere).
    issuer: str = "https://human-review.invalid/review-service"
    # Signs the image-proxy tokens and the worker session cookie. None: random per process
    # (tokens and sessions then do not survive a restart, which is fine locally).
    secret_key: str | None = None
    image_token_ttl_seconds: int = 3600
    # The A2I API demands SigV4 signatures made with aws_access_key_id/aws_secret_access_key.
    verify_signatures: bool = True
    # Accepted clock skew of a signature (AWS: 15 minutes), in seconds.
    signature_max_skew_seconds: int = 900
    # A2I API requests per second (token bucket; excess gets ThrottlingException 429). None: no limit.
    # The bucket is per process: with `human-review portal --workers N` each worker has its own, so
    # the service as a whole admits up to N times this rate.
    api_requests_per_second: float | None = None
    # Human loops InProgress per flow definition before StartHumanLoop answers
    # ServiceQuotaExceededException (402); AWS's default quota is 5,000 for a private workforce.
    max_in_flight_loops: int = 5000
    # Standalone portal only: accept the X-Worker-Id header as identity. Anyone can send any name in
    # it, so it is off unless a test or dev stack turns it on. The Airflow plugin never reads it.
    allow_worker_id_header: bool = False
    # Standalone sign-in. `users_file`: lines `name:scrypt$...` (portal/auth.py `hash_password`;
    # docs/security.md); sign-in then needs the password. `proxy_user_header`: the name of a header a
    # trusted reverse proxy (OIDC, mTLS) sets to the signed-in user; read only when configured.
    # `open_sign_in`: any name signs in without a password: dev stacks only, never a shared portal.
    users_file: Path | None = None
    proxy_user_header: str | None = None
    open_sign_in: bool = False
    # A session cookie expires this long after sign-in; sign-out revokes it at once.
    session_ttl_seconds: int = 8 * 3600
    # Origins besides the request's own that may POST to the portal (a proxy that rewrites Host).
    trusted_origins: tuple[str, ...] = ()
    # Size caps: any request body (checked before reading) and one answerContent's JSON.
    max_request_bytes: int = 4 * 1024 * 1024
    max_answer_bytes: int = 256 * 1024
    # `/docs`, `/openapi.json` and the flow list in `/healthz`: dev stacks only.
    expose_docs: bool = False
    # Origins (e.g. https://cdnjs.cloudflare.com) whose <script src> a worker template may load:
    # for teams whose reviewers have network access. Other external scripts are removed, and the
    # task page says so. Empty by default: the service works offline.
    script_origins: tuple[str, ...] = ()
    # Origins (e.g. https://example.com) whose images a worker template may show directly
    # (instruction examples, public task images); the CSP's img-src otherwise allows only the portal.
    image_origins: tuple[str, ...] = ()
    # Seconds between background sweeps that write expiries, stops and lapsed claims to the database
    # and retry failed output.json writes (reads compute expiry from the deadlines, so this is not
    # what makes a loop expire on time). 0: no background sweep (tests call `ReviewService.sweep`).
    sweep_interval_seconds: float = 1.0
    # Injectable clock (aware UTC datetimes) so tests can move time forward; None = real time.
    clock: Callable[[], datetime] | None = None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "PortalSettings":
        env = os.environ if environ is None else environ
        kwargs: dict = {}
        if env.get("HUMAN_REVIEW_PORTAL_DB_URL"):
            kwargs["database_url"] = env["HUMAN_REVIEW_PORTAL_DB_URL"]
        if env.get("HUMAN_REVIEW_PIPELINES_DIR"):
            kwargs["pipelines_dir"] = Path(env["HUMAN_REVIEW_PIPELINES_DIR"])
        if env.get("HUMAN_REVIEW_S3_ENDPOINT_URL"):
            kwargs["s3_endpoint_url"] = env["HUMAN_REVIEW_S3_ENDPOINT_URL"]
        region = env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION")
        if region:
            kwargs["region"] = region
        if env.get("AWS_ACCESS_KEY_ID"):
            kwargs["aws_access_key_id"] = env["AWS_ACCESS_KEY_ID"]
        if env.get("AWS_SECRET_ACCESS_KEY"):
            kwargs["aws_secret_access_key"] = env["AWS_SECRET_ACCESS_KEY"]
        if env.get("HUMAN_REVIEW_PORTAL_ISSUER"):
            kwargs["issuer"] = env["HUMAN_REVIEW_PORTAL_ISSUER"]
        if env.get("HUMAN_REVIEW_PORTAL_SECRET"):
            kwargs["secret_key"] = env["HUMAN_REVIEW_PORTAL_SECRET"]
        if env.get("HUMAN_REVIEW_PORTAL_RPS"):
            kwargs["api_requests_per_second"] = float(env["HUMAN_REVIEW_PORTAL_RPS"])
        if env.get("HUMAN_REVIEW_PORTAL_MAX_IN_FLIGHT"):
            kwargs["max_in_flight_loops"] = int(env["HUMAN_REVIEW_PORTAL_MAX_IN_FLIGHT"])
        if env.get("HUMAN_REVIEW_PORTAL_SCRIPT_ORIGINS"):
            kwargs["script_origins"] = tuple(
                o.strip() for o in env["HUMAN_REVIEW_PORTAL_SCRIPT_ORIGINS"].split(",") if o.strip())
        if env.get("HUMAN_REVIEW_PORTAL_IMAGE_ORIGINS"):
            kwargs["image_origins"] = tuple(
                o.strip() for o in env["HUMAN_REVIEW_PORTAL_IMAGE_ORIGINS"].split(",") if o.strip())
        if env.get("HUMAN_REVIEW_PORTAL_SWEEP_SECONDS"):
            kwargs["sweep_interval_seconds"] = float(env["HUMAN_REVIEW_PORTAL_SWEEP_SECONDS"])
        if env.get("HUMAN_REVIEW_PORTAL_USERS_FILE"):
            kwargs["users_file"] = Path(env["HUMAN_REVIEW_PORTAL_USERS_FILE"])
        if env.get("HUMAN_REVIEW_PORTAL_PROXY_USER_HEADER"):
            kwargs["proxy_user_header"] = env["HUMAN_REVIEW_PORTAL_PROXY_USER_HEADER"]
        if env.get("HUMAN_REVIEW_PORTAL_SESSION_TTL"):
            kwargs["session_ttl_seconds"] = int(env["HUMAN_REVIEW_PORTAL_SESSION_TTL"])
        if env.get("HUMAN_REVIEW_PORTAL_TRUSTED_ORIGINS"):
            kwargs["trusted_origins"] = tuple(
                o.strip().rstrip("/") for o in env["HUMAN_REVIEW_PORTAL_TRUSTED_ORIGINS"].split(",") if o.strip())
        if env.get("HUMAN_REVIEW_PORTAL_MAX_REQUEST_BYTES"):
            kwargs["max_request_bytes"] = int(env["HUMAN_REVIEW_PORTAL_MAX_REQUEST_BYTES"])
        if env.get("HUMAN_REVIEW_PORTAL_MAX_ANSWER_BYTES"):
            kwargs["max_answer_bytes"] = int(env["HUMAN_REVIEW_PORTAL_MAX_ANSWER_BYTES"])
        for name, key in (("HUMAN_REVIEW_PORTAL_ALLOW_WORKER_ID_HEADER", "allow_worker_id_header"),
                          ("HUMAN_REVIEW_PORTAL_OPEN_SIGN_IN", "open_sign_in"),
                          ("HUMAN_REVIEW_PORTAL_EXPOSE_DOCS", "expose_docs")):
            if env.get(name, "").lower() in ("1", "true", "yes"):
                kwargs[key] = True
        if env.get("HUMAN_REVIEW_PORTAL_VERIFY_SIGNATURES", "").lower() in ("0", "false", "no"):
            kwargs["verify_signatures"] = False
        return cls(**kwargs)

    def now(self) -> datetime:
        return (self.clock or utcnow)()

    def s3_client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.aws_access_key_id,
            aws_secret_access_key=self.aws_secret_access_key,
            # One client for every request thread (uvicorn's pool runs 40) and the output writers:
            # botocore's default pool of 10 would open and drop a connection per request beyond it.
            config=Config(max_pool_connections=64),
        )
