"""Object storage through Airflow's ObjectStoragePath: `s3://` with the AWS connection, or `file://`.

Workers share nothing but object storage and the metadata DB, so every stage hands the next one a
URI written here, never a local file.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from airflow.sdk import ObjectStoragePath


def path(uri: str, conn_id: str | None = None) -> ObjectStoragePath:
    """An ObjectStoragePath; the connection applies to s3:// only (file:// needs none)."""
    return ObjectStoragePath(uri, conn_id=conn_id if uri.startswith("s3://") else None)


def join(uri: str, *parts: str) -> str:
    return "/".join([uri.rstrip("/"), *(p.strip("/") for p in parts)])


def _writable(uri: str, conn_id: str | None) -> ObjectStoragePath:
    """The path, with its parent folders made where the store has folders (file://)."""
    p = path(uri, conn_id)
    if p.protocol in ("file", "local", ""):
        p.parent.mkdir(parents=True, exist_ok=True)
    return p


def _s3_parts(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def read_bytes(uri: str, conn_id: str | None = None) -> bytes:
    """The object's bytes: s3:// in one GetObject through the process's boto3 client (no fsspec,
    whose set-up alone costs a task more CPU than a batch's manifest), else through the path."""
    if uri.startswith("s3://"):
        bucket, key = _s3_parts(uri)
        return get_bytes(s3_client(conn_id), bucket, key)
    return path(uri, conn_id).read_bytes()


def read_text(uri: str, conn_id: str | None = None) -> str:
    return read_bytes(uri, conn_id).decode("utf-8")


def _write(uri: str, data: bytes, conn_id: str | None) -> str:
    if uri.startswith("s3://"):
        bucket, key = _s3_parts(uri)
        s3_client(conn_id).put_object(Bucket=bucket, Key=key, Body=data)
    else:
        _writable(uri, conn_id).write_bytes(data)
    return uri


def write_json(uri: str, obj: Any, conn_id: str | None = None, *, pretty: bool = False) -> str:
    """`obj` as JSON. Files the stages hand each other are written on one line: an indent makes
    `json` use its pure-Python encoder, three times the CPU of the C one (a 2,500-image routing
    file took 0.15 s instead of 0.05). `pretty` indents the small files people open (summary.json)."""
    text = json.dumps(obj, indent=1 if pretty else None, sort_keys=True, default=str)
    return _write(uri, text.encode("utf-8"), conn_id)


def read_json(uri: str, conn_id: str | None = None) -> Any:
    return json.loads(read_text(uri, conn_id))


def write_jsonl(uri: str, rows: Iterable[dict[str, Any]], conn_id: str | None = None) -> str:
    text = "".join(json.dumps(r, sort_keys=True, default=str) + "\n" for r in rows)
    return _write(uri, text.encode("utf-8"), conn_id)


def read_jsonl(uri: str, conn_id: str | None = None) -> list[dict[str, Any]]:
    return [json.loads(line) for line in read_text(uri, conn_id).splitlines() if line.strip()]


def write_bytes(uri: str, data: bytes, conn_id: str | None = None) -> str:
    return _write(uri, data, conn_id)


def upload_file(uri: str, local: Any, conn_id: str | None = None) -> str:
    """Copy a local file to `uri` without reading it whole into memory (s3://: boto3's managed
    upload, multipart for big files)."""
    if uri.startswith("s3://"):
        bucket, key = _s3_parts(uri)
        s3_client(conn_id).upload_file(str(local), bucket, key)
    else:
        import shutil

        target = _writable(uri, conn_id)
        with open(local, "rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    return uri


def list_folders(uri: str, conn_id: str | None = None) -> list[str]:
    """The names of the folders directly under `uri`, sorted; [] when there is none."""
    root = path(uri, conn_id)
    try:
        if root.protocol == "s3":
            root.fs.invalidate_cache(root.path)  # a run written since the last listing must show
        return sorted(p.name for p in root.iterdir() if p.is_dir())
    except (FileNotFoundError, NotADirectoryError):
        return []


@dataclass(frozen=True)
class ObjectInfo:
    """One listed object: enough to select and validate it without reading it."""

    key: str
    size: int
    last_modified: dt.datetime


_CLIENTS: dict[str | None, Any] = {}
_CLIENTS_LOCK = threading.Lock()
POOL = 64  # connections per client: at least the threads of any stage that shares it


def s3_client(conn_id: str | None, max_pool_connections: int = POOL) -> Any:
    """The process's boto3 S3 client for an Airflow connection (its endpoint, region, credentials).

    One per connection and process (a task is a process; boto3 clients are thread-safe), with a
    connection pool as large as the threads that share it. Reading with get_object directly costs
    one request per image: fsspec adds a HeadObject or a scan of its cached listing, and runs every
    call through one event-loop thread."""
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(conn_id)
        if client is None or client.meta.config.max_pool_connections < max_pool_connections:
            from botocore.config import Config

            from human_review.hooks import ReviewAwsHook

            config = Config(max_pool_connections=max(POOL, int(max_pool_connections)),
                            retries={"mode": "standard", "max_attempts": 3})
            client = _CLIENTS[conn_id] = ReviewAwsHook(aws_conn_id=conn_id, client_type="s3", config=config).get_conn()
        return client


def forget_clients() -> None:
    """Drop the cached clients: a process that points a connection at new endpoints (the tests'
    local stacks) must not reuse the old ones."""
    with _CLIENTS_LOCK:
        _CLIENTS.clear()


def get_bytes(client: Any, bucket: str, key: str) -> bytes:
    """The object's bytes in one GetObject; FileNotFoundError when there is no such key."""
    try:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except client.exceptions.NoSuchKey as e:
        raise FileNotFoundError(f"s3://{bucket}/{key}") from e


def head(client: Any, bucket: str, key: str) -> ObjectInfo | None:
    """The object's size and LastModified from one HeadObject; None when there is no such key."""
    from human_review.exceptions import error_code

    try:
        meta = client.head_object(Bucket=bucket, Key=key)
    except Exception as e:
        if error_code(e) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return ObjectInfo(key=key, size=int(meta.get("ContentLength") or 0), last_modified=meta["LastModified"])


def iter_objects(client: Any, bucket: str, prefix: str, *, start_after: str | None = None) -> Iterator[ObjectInfo]:
    """Every object under s3://bucket/prefix, page by page (1,000 keys a List call), in key order.

    Streamed: a prefix with years of history is never held in memory, only the current page."""
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    if start_after:
        kwargs["StartAfter"] = start_after
    for page in client.get_paginator("list_objects_v2").paginate(**kwargs):
        for obj in page.get("Contents", ()):
            if obj["Key"].endswith("/"):
                continue  # a folder marker
            yield ObjectInfo(key=obj["Key"], size=int(obj.get("Size") or 0), last_modified=obj["LastModified"])


def list_objects(bucket: str, prefix: str, conn_id: str | None) -> Iterator[ObjectInfo]:
    """Every object under s3://bucket/prefix, with size and LastModified, streamed from a paged listing."""
    return iter_objects(s3_client(conn_id), bucket, prefix)
