"""Discover's cost against the prefix's history, and its batches at 100,000 images.

`python -m human_review_dev.bench.discover --old 50000 --new 500 --batching 100000` on moto's S3
server (its own process): the real discover stage over a date-partitioned layout
(`incoming/YYYY-MM-DD/`, `old` objects spread over 100 earlier days, `new` in today's folder)
with the prefix templated from the data interval, against the same stage over a bucket holding
only the new objects; then discover over `batching` new objects: manifests, largest manifest,
task instances the run would have. Objects are small (discover reads only the listing).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from human_review_dev.bench.services import processes, start_moto, pid_env
from human_review_dev.stack import ACCESS_KEY, SECRET_KEY, aws_connection

BODY = b"\xff\xd8" + b"\0" * 200 + b"\xff\xd9"


def _put(s3, bucket: str, keys: list[str]) -> None:
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=BODY), keys))


def _run(bucket: str, prefix: str, start: dt.datetime, end: dt.datetime):
    from human_review.config import find_pipeline
    from human_review.stages.discover import discover
    from human_review.stages.run import RunContext

    config = find_pipeline("object-detection")
    config = config.model_copy(update={
        "work_prefix": f"s3://{bucket}/work",
        "source": config.source.model_copy(update={"bucket": bucket, "prefix": prefix, "max_items": 1_000_000})})
    run = RunContext(config=config, run_key=f"bench-{bucket}-{time.time_ns()}",
                     data_interval_start=start, data_interval_end=end)
    t = time.perf_counter()
    refs = discover(run)
    return time.perf_counter() - t, refs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--old", type=int, default=50_000)
    p.add_argument("--new", type=int, default=500)
    p.add_argument("--batching", type=int, default=0, help="also discover this many new objects (0: skip)")
    p.add_argument("--json")
    args = p.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="hr-bench-discover-"))
    from human_review_dev.local_airflow import use_local_airflow

    use_local_airflow(home)
    out: dict = {"old": args.old, "new": args.new}
    with processes(home / "logs", pid_env()) as procs:
        url = start_moto(procs)
        os.environ.update({"AIRFLOW_CONN_AWS_DEFAULT": json.dumps(aws_connection("us-east-1", {"s3": url})),
                           "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                           "AWS_DEFAULT_REGION": "us-east-1"})
        import boto3

        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
                          aws_secret_access_key=SECRET_KEY,
                          config=__import__("botocore.config").config.Config(max_pool_connections=32))
        now = dt.datetime.now(dt.timezone.utc)
        today = f"incoming/{now:%Y-%m-%d}/"
        new = [f"{today}img-{i:06d}.jpg" for i in range(args.new)]
        old = [f"incoming/{now - dt.timedelta(days=1 + i % 100):%Y-%m-%d}/old-{i:06d}.jpg" for i in range(args.old)]
        for bucket in ("history", "only-new"):
            s3.create_bucket(Bucket=bucket)
        t = time.perf_counter()
        _put(s3, "history", old + new)
        _put(s3, "only-new", new)
        print(f"uploaded {len(old) + 2 * len(new):,} objects in {time.perf_counter() - t:.0f} s", flush=True)
        template = "incoming/{data_interval_start:%Y-%m-%d}/"
        # the night: from just before the uploads to just after (every upload is "new" by LastModified;
        # the old ones are told apart by their date folders, as in a real date-partitioned layout)
        start, end = now - dt.timedelta(minutes=1), dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)
        _run("only-new", template, start, end)  # warm up: imports, the first client
        alone, refs_alone = _run("only-new", template, start, end)
        history, refs_history = _run("history", template, start, end)
        assert sum(r.items for r in refs_history) == sum(r.items for r in refs_alone) == len(new)
        t = time.perf_counter()
        listed = sum(1 for page in s3.get_paginator("list_objects_v2").paginate(Bucket="history", Prefix="incoming/")
                     for _ in page.get("Contents", []))
        flat = time.perf_counter() - t
        out.update({"discover_new_only_s": round(alone, 3), "discover_with_history_s": round(history, 3),
                    "ratio": round(history / alone, 2), "listing_whole_prefix_s": round(flat, 3),
                    "whole_prefix_objects": listed})
        print(f"discover, templated prefix: {args.new} new alone {alone:.2f} s; with {args.old:,} old in earlier "
              f"date folders {history:.2f} s ({history / alone:.2f}x). Listing the whole prefix ({listed:,} objects), "
              f"as the old discover did before filtering: {flat:.2f} s", flush=True)
        if args.batching:
            # Uploading 100,000 objects to moto takes longer than this shared machine allows: discover
            # runs for real (batching, manifests written to S3) over a listing of that many objects
            # made in code instead of listed.
            from human_review import storage

            s3.create_bucket(Bucket="batching")
            listed_at = dt.datetime.now(dt.timezone.utc)
            synthetic = [storage.ObjectInfo(f"{today}img-{i:07d}.jpg", 80_000, listed_at) for i in range(args.batching)]
            real_iter = storage.iter_objects
            storage.iter_objects = lambda client, bucket, prefix, **kw: iter(synthetic)
            try:
                seconds, refs = _run("batching", template, listed_at - dt.timedelta(minutes=1),
                                     listed_at + dt.timedelta(minutes=1))
            finally:
                storage.iter_objects = real_iter
            sizes = [o["Size"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="batching", Prefix="work/")
                     for o in page.get("Contents", []) if o["Key"].endswith("manifest.json")]
            out.update({"batching_listing": "made in code (see the comment above)", "batching_images": args.batching, "batching_discover_s": round(seconds, 2),
                        "batches": len(refs), "largest_manifest_bytes": max(sizes),
                        "task_instances": 2 * len(refs) + 3,
                        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)})
            print(f"discover over {args.batching:,} images: {len(refs)} batches (task instances: discover + "
                  f"{len(refs)} infer + {len(refs)} route + wait + report = {2 * len(refs) + 3}), largest manifest "
                  f"{max(sizes) / 1024:.0f} KB, {seconds:.1f} s", flush=True)
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
