"""Object storage through Airflow's ObjectStoragePath: `s3://` with the AWS connection, or `file://`.

Workers share nothing but object storage and the metadata DB, so every stage hands the next one a
URI written here, never a local file.
"""

from __future__ import annotations

import datetime as dt
import json
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


def write_json(uri: str, obj: Any, conn_id: str | None = None) -> str:
    _writable(uri, conn_id).write_text(json.dumps(obj, indent=1, sort_keys=True, default=str))
    return uri


def read_json(uri: str, conn_id: str | None = None) -> Any:
    return json.loads(path(uri, conn_id).read_text())


def write_jsonl(uri: str, rows: Iterable[dict[str, Any]], conn_id: str | None = None) -> str:
    _writable(uri, conn_id).write_text("".join(json.dumps(r, sort_keys=True, default=str) + "\n" for r in rows))
    return uri


def read_jsonl(uri: str, conn_id: str | None = None) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path(uri, conn_id).read_text().splitlines() if line.strip()]


def write_bytes(uri: str, data: bytes, conn_id: str | None = None) -> str:
    _writable(uri, conn_id).write_bytes(data)
    return uri


@dataclass(frozen=True)
class ObjectInfo:
    """One listed object: enough to select and validate it without reading it."""

    key: str
    size: int
    last_modified: dt.datetime


def list_objects(bucket: str, prefix: str, conn_id: str | None) -> Iterator[ObjectInfo]:
    """Every object under s3://bucket/prefix, with size and LastModified, from one paged listing."""
    root = path(f"s3://{bucket}/{prefix}", conn_id)
    fs = root.fs
    target = f"{bucket}/{prefix}"
    fs.invalidate_cache(target)  # a rerun in the same process must see objects added since
    for name, info in sorted(fs.find(target, detail=True).items()):
        if info.get("type") == "directory" or name.endswith("/"):
            continue
        modified = info.get("LastModified") or info.get("last_modified")
        if modified is None and "mtime" in info:
            modified = dt.datetime.fromtimestamp(float(info["mtime"]), tz=dt.timezone.utc)
        if isinstance(modified, str):
            modified = dt.datetime.fromisoformat(modified)
        key = name.split("/", 1)[1] if "/" in name else name
        yield ObjectInfo(key=key, size=int(info.get("size") or info.get("Size") or 0), last_modified=modified)
