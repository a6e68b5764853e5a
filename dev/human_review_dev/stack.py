"""Local stand-ins for AWS: moto's S3 server plus the local A2I-compatible review service.

    with local_stack(Path("demo-output")) as stack:
        os.environ.update(stack.env)   # Airflow's aws_default connection now points at both
        ...

Everything started here is stopped on exit.
"""

from __future__ import annotations

import json
import logging
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

from human_review.portal.app import create_app
from human_review.portal.server import RunningServer, serve_in_thread
from human_review.portal.settings import PortalSettings

log = logging.getLogger(__name__)

ACCESS_KEY = "testing"
SECRET_KEY = "testing"


def aws_connection(region: str, endpoints: dict[str, str], *, access_key: str = ACCESS_KEY,
                   secret_key: str = SECRET_KEY) -> dict:
    """The Airflow AWS connection that sends each service (`s3`, `sagemaker-a2i-runtime`, ...) to its
    local endpoint: the only difference between the local parts and AWS."""
    return {
        "conn_type": "aws", "login": access_key, "password": secret_key,
        "extra": {"region_name": region,
                  "service_config": {service: {"endpoint_url": url} for service, url in endpoints.items()}},
    }


@dataclass
class LocalStack:
    s3_endpoint_url: str
    review_url: str
    bucket: str
    region: str
    settings: PortalSettings
    review_server: RunningServer = field(repr=False)
    s3_server: object = field(default=None, repr=False)  # moto's ThreadedMotoServer (tests stop it for outages)

    def connection(self) -> dict:
        return aws_connection(self.region, {"s3": self.s3_endpoint_url, "sagemaker-a2i-runtime": self.review_url})

    @property
    def aws_conn_extra(self) -> dict:
        return self.connection()["extra"]

    def airflow_conn_json(self) -> str:
        return json.dumps(self.connection())

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": self.region,
            "AIRFLOW_CONN_AWS_DEFAULT": self.airflow_conn_json(),
            "HUMAN_REVIEW_BUCKET": self.bucket,
        }

    def _client(self, service: str, endpoint_url: str):
        import boto3

        return boto3.client(service, endpoint_url=endpoint_url, region_name=self.region,
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)

    def s3_client(self):
        return self._client("s3", self.s3_endpoint_url)

    def a2i_client(self):
        return self._client("sagemaker-a2i-runtime", self.review_url)


def _forget_cached_filesystems() -> None:
    """Airflow caches one filesystem per (protocol, connection) for the process; a new stack has new
    endpoints, so a process that starts a second stack (the tests do) must not reuse the old one."""
    import sys

    store = sys.modules.get("airflow.sdk.io.store")
    if store is not None:
        store._STORE_CACHE.clear()
    storage = sys.modules.get("human_review.storage")
    if storage is not None:
        storage.forget_clients()


def _create_bucket(s3, bucket: str, region: str) -> None:
    kwargs = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    try:
        s3.create_bucket(Bucket=bucket, **kwargs)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass


@contextmanager
def local_stack(
    workdir: Path,
    bucket: str = "human-review-demo",
    region: str = "us-east-1",
    *,
    pipelines_dir: Path | None = None,
    clock: Callable[[], datetime] | None = None,
    database_url: str | None = None,
    **settings_overrides,
) -> Iterator[LocalStack]:
    """Start moto S3 and the review service (SQLite in `workdir` unless `database_url`); yield their endpoints.

    `settings_overrides`: further `PortalSettings` fields (e.g. api_requests_per_second)."""
    from moto.server import ThreadedMotoServer

    werkzeug_log = logging.getLogger("werkzeug")  # moto's server logs every request at INFO
    if werkzeug_log.level == logging.NOTSET:
        werkzeug_log.setLevel(logging.WARNING)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        stack.callback(moto.stop)
        host, port = moto.get_host_and_port()
        s3_url = f"http://{host}:{port}"

        # A dev stack on 127.0.0.1: name-only sign-in and X-Worker-Id for the simulated reviewers and
        # the tests, unless the caller overrides them (tests/security does). Never a shared portal.
        for dev_default in ("open_sign_in", "allow_worker_id_header", "expose_docs"):
            settings_overrides.setdefault(dev_default, True)
        settings = PortalSettings(
            database_url=database_url or f"sqlite:///{(workdir / 'review-service.sqlite').resolve()}",
            pipelines_dir=pipelines_dir,
            s3_endpoint_url=s3_url,
            region=region,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            clock=clock,
            **settings_overrides,
        )
        app = create_app(settings)
        server = serve_in_thread(app)
        stack.callback(server.stop)
        stack.callback(app.state.review_service.store.dispose)

        result = LocalStack(
            s3_endpoint_url=s3_url,
            review_url=server.url,
            bucket=bucket,
            region=region,
            settings=settings,
            review_server=server,
            s3_server=moto,
        )
        _forget_cached_filesystems()
        stack.callback(_forget_cached_filesystems)
        s3 = result.s3_client()
        _create_bucket(s3, bucket, region)
        # Flow definitions may name another output bucket (e.g. HUMAN_REVIEW_BUCKET unset): create it too.
        for name, flow in app.state.review_service.flow_definitions().items():
            out_bucket = flow.output_path.removeprefix("s3://").split("/", 1)[0]
            if out_bucket != bucket:
                log.info("local_stack: creating output bucket %s of flow definition %s", out_bucket, name)
                _create_bucket(s3, out_bucket, region)
        yield result


__all__ = ["LocalStack", "local_stack"]
