"""`make up`'s local S3 survives a restart: moto's server is in-memory only, so PersistentS3 saves the
buckets under the stack's folder and loads them into the next server (Review reports lists the runs)."""

from __future__ import annotations

import pytest

from human_review_dev.local_s3 import PersistentS3

pytestmark = pytest.mark.integration


# Each life of the local S3 runs in a process of its own, as `make up` restarts do: moto keeps its
# state per process, so a second server in this process would see the first one's buckets anyway.
LIFE = r"""
import json, sys
from human_review_dev.local_s3 import PersistentS3

folder, step = sys.argv[1], sys.argv[2]
photo = bytes(range(256)) * 40
out = {}
with PersistentS3(folder) as server:
    s3 = server.client()
    if step == "first":
        s3.create_bucket(Bucket="human-review-demo")
        s3.create_bucket(Bucket="empty-bucket")
        s3.put_object(Bucket="human-review-demo", Key="incoming/2026-11-22/photo.jpg", Body=photo,
                      ContentType="image/jpeg")
        s3.put_object(Bucket="human-review-demo", Key="human-review/reports/content-moderation/latest.json",
                      Body=b'{"run_key": "r1"}', Metadata={"pipeline": "content-moderation"})
        s3.put_object(Bucket="human-review-demo", Key="gone.txt", Body=b"x")
        s3.delete_object(Bucket="human-review-demo", Key="gone.txt")
    else:
        out["buckets"] = sorted(b["Name"] for b in s3.list_buckets()["Buckets"])
        out["objects"] = {o["Key"]: s3.get_object(Bucket="human-review-demo", Key=o["Key"])["Body"].read().hex()
                          for o in s3.list_objects_v2(Bucket="human-review-demo").get("Contents", [])}
        out["photo_ok"] = out["objects"].get("incoming/2026-11-22/photo.jpg") == photo.hex()
        head = s3.head_object(Bucket="human-review-demo", Key="incoming/2026-11-22/photo.jpg")
        out["content_type"] = head["ContentType"]
        meta = s3.head_object(Bucket="human-review-demo", Key="human-review/reports/content-moderation/latest.json")
        out["metadata"] = meta["Metadata"]
        if step == "second":  # changes of the second life persist too, and a save writes only what changed
            s3.put_object(Bucket="human-review-demo", Key="human-review/reports/content-moderation/latest.json",
                          Body=b'{"run_key": "r2"}')
            out["saves"] = [server.save(), server.save()]
print(json.dumps(out))
"""


def _life(folder, step: str) -> dict:
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", LIFE, str(folder), step], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_objects_survive_a_restart(tmp_path):
    folder = tmp_path / "s3"
    _life(folder, "first")
    second = _life(folder, "second")  # a new process, a new server: only the saved folder remembers
    assert second["buckets"] == ["empty-bucket", "human-review-demo"]
    assert sorted(second["objects"]) == ["human-review/reports/content-moderation/latest.json",
                                         "incoming/2026-11-22/photo.jpg"]  # gone.txt stays deleted
    assert second["photo_ok"] and second["content_type"] == "image/jpeg"
    assert second["metadata"] == {"pipeline": "content-moderation"}
    assert second["saves"] == [1, 0]
    third = _life(folder, "third")
    assert bytes.fromhex(third["objects"]["human-review/reports/content-moderation/latest.json"]) == b'{"run_key": "r2"}'
    assert len(list((folder / "blobs").iterdir())) == 2


def test_unreadable_index_names_the_file(tmp_path):
    folder = tmp_path / "s3"
    folder.mkdir()
    (folder / "index.json").write_text("{not json")
    s3 = PersistentS3(folder)
    with pytest.raises(RuntimeError, match="index.json: unreadable saved S3 index"):
        s3.start()
    assert s3._server is None  # the server it started is stopped again
