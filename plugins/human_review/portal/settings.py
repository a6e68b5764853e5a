"""Settings of the local review service (also read from the environment by `PortalSettings.from_env`)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable


def _default_database_url() -> str:
    return f"sqlite:///{Path(tempfile.gettempdir()) / 'review-service.sqlite'}"


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
    # `issuer` in each answer's workerMetadata.identityData of output.json.
    issuer: str = "human-review-local"
    # Signs the image-proxy tokens and the worker session cookie. None: random per process
    # (tokens and sessions then do not survive a restart, which is fine locally).
    secret_key: str | None = None
    image_token_ttl_seconds: int = 3600
    # The A2I API demands SigV4 signatures made with aws_access_key_id/aws_secret_access_key.
    verify_signatures: bool = True
    # Accepted clock skew of a signature (AWS: 15 minutes), in seconds.
    signature_max_skew_seconds: int = 900
    # A2I API requests per second (token bucket; excess gets ThrottlingException 429). None: no limit.
    api_requests_per_second: float | None = None
    # Human loops InProgress per flow definition before StartHumanLoop answers
    # ServiceQuotaExceededException (402); AWS's default quota is 5,000 for a private workforce.
    max_in_flight_loops: int = 5000
    # Standalone portal only: accept the X-Worker-Id header as identity (scripts, simulated reviewers).
    # The Airflow plugin ignores it and uses Airflow's auth manager.
    allow_worker_id_header: bool = True
    # Origins (e.g. https://cdnjs.cloudflare.com) whose <script src> a worker template may load:
    # for teams whose reviewers have network access. Other external scripts are removed, and the
    # task page says so. Empty by default: the service works offline.
    script_origins: tuple[str, ...] = ()
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
        if env.get("HUMAN_REVIEW_PORTAL_VERIFY_SIGNATURES", "").lower() in ("0", "false", "no"):
            kwargs["verify_signatures"] = False
        return cls(**kwargs)

    def now(self) -> datetime:
        return (self.clock or utcnow)()

    def s3_client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.aws_access_key_id,
            aws_secret_access_key=self.aws_secret_access_key,
        )
