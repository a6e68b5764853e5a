"""moto's S3 server whose buckets outlive it: saved under a folder, loaded again on the next start.

moto 5.2.5 keeps its state in memory only. Its one persistence feature is the request recorder
(MOTO_ENABLE_RECORDING / MOTO_RECORDER_FILEPATH, replayed through /moto-api/recorder/): it logs every
request, reads included, with base64 bodies, grows without end and replays everything (stamping
every object with the replay's time). So `make up` keeps a file-backed copy instead:

    <folder>/index.json                       {bucket: {key: {"etag", "content_type", "metadata", "blob"}}}
    <folder>/blobs/<sha256 of bucket/key>     the object's bytes

`save()` writes what changed since the last save (by ETag) and forgets deleted objects; `stop()`
saves, and `make up` also saves every minute, so a crash loses at most that minute. `start()`
loads the folder into a fresh moto server before anyone uses it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

ACCESS_KEY = SECRET_KEY = "testing"


def _blob_name(bucket: str, key: str) -> str:
    return hashlib.sha256(f"{bucket}/{key}".encode()).hexdigest()


class PersistentS3:
    def __init__(self, folder: Path, host: str = "127.0.0.1", port: int = 0, region: str = "us-east-1"):
        self.folder = Path(folder)
        self.host, self.port, self.region = host, port, region
        self._server = None
        self.url: str | None = None

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> str:
        """Start moto's server and load the saved buckets; return its URL."""
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        try:
            self.load()
        except BaseException:
            self._server.stop()
            self._server = None
            raise
        return self.url

    def stop(self) -> None:
        if self._server is None:
            return
        try:
            self.save()
        finally:
            self._server.stop()
            self._server = None

    def __enter__(self) -> "PersistentS3":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name=self.region,
                            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)

    # ---- the folder -----------------------------------------------------------------------

    @property
    def _index_path(self) -> Path:
        return self.folder / "index.json"

    def _read_index(self) -> dict[str, dict[str, dict]]:
        if not self._index_path.exists():
            return {}
        try:
            return json.loads(self._index_path.read_text())
        except (OSError, ValueError) as e:
            raise RuntimeError(f"{self._index_path}: unreadable saved S3 index ({e}); move the folder "
                               f"{self.folder} away to start with empty local S3") from e

    def load(self) -> int:
        """Put every saved object back (fresh server); return how many."""
        s3, count = self.client(), 0
        for bucket, objects in self._read_index().items():
            s3.create_bucket(Bucket=bucket)
            for key, meta in objects.items():
                blob = self.folder / "blobs" / meta["blob"]
                if not blob.exists():
                    log.warning("local S3: %s is missing; s3://%s/%s not restored", blob, bucket, key)
                    continue
                extra = {"ContentType": meta["content_type"]} if meta.get("content_type") else {}
                if meta.get("metadata"):
                    extra["Metadata"] = meta["metadata"]
                s3.put_object(Bucket=bucket, Key=key, Body=blob.read_bytes(), **extra)
                count += 1
        return count

    def save(self) -> int:
        """Write the objects that changed since the last save; return how many were written."""
        s3, written = self.client(), 0
        old = self._read_index()
        index: dict[str, dict[str, dict]] = {}
        blobs = self.folder / "blobs"
        blobs.mkdir(parents=True, exist_ok=True)
        for b in s3.list_buckets().get("Buckets", []):
            bucket = b["Name"]
            index[bucket] = {}
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for obj in page.get("Contents", []):
                    key, etag, name = obj["Key"], obj["ETag"], _blob_name(bucket, obj["Key"])
                    before = old.get(bucket, {}).get(key)
                    if before and before["etag"] == etag and (blobs / name).exists():
                        index[bucket][key] = before
                        continue
                    got = s3.get_object(Bucket=bucket, Key=key)
                    tmp = blobs / f".{name}.tmp"
                    tmp.write_bytes(got["Body"].read())
                    os.replace(tmp, blobs / name)
                    index[bucket][key] = {"etag": got["ETag"], "content_type": got.get("ContentType"),
                                          "metadata": got.get("Metadata") or {}, "blob": name}
                    written += 1
        kept = {meta["blob"] for objects in index.values() for meta in objects.values()}
        for blob in blobs.iterdir():
            if blob.name not in kept:
                blob.unlink()  # deleted objects, stale temporaries
        tmp = self.folder / ".index.json.tmp"
        tmp.write_text(json.dumps(index, indent=1, sort_keys=True))
        os.replace(tmp, self._index_path)
        return written


__all__ = ["PersistentS3"]
