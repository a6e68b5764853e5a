"""Discover: the objects that arrived during the run's data interval, in batches.

Cheap checks happen here (extension, size) from the listing alone; content checks (magic bytes,
a full decode) happen in infer, which reads every byte anyway, so no object is read twice.
"""

from __future__ import annotations

import logging
from typing import Any

from human_review import storage
from human_review.stages.run import RunContext

log = logging.getLogger(__name__)


def _check(info: storage.ObjectInfo, extensions: tuple[str, ...], max_bytes: int) -> str | None:
    name = info.key.rsplit("/", 1)[-1]
    ext = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
    if ext not in extensions:
        return f"unsupported extension {ext or '(none)'!r}; accepted: {', '.join(extensions)}"
    if info.size == 0:
        return "empty file (0 bytes)"
    if info.size > max_bytes:
        return f"{info.size:,} bytes is over the {max_bytes:,} byte limit"
    return None


def _explicit(run: RunContext, keys: list[str]) -> list[tuple[storage.ObjectInfo, str | None]]:
    import datetime as dt

    src = run.config.source
    found = []
    for key in dict.fromkeys(k.lstrip("/") for k in keys):  # keep order, drop repeats
        p = storage.path(f"s3://{src.bucket}/{key}", run.conn_id)
        try:
            st = p.fs.info(f"{src.bucket}/{key}")
        except FileNotFoundError:
            found.append((storage.ObjectInfo(key, 0, dt.datetime.now(dt.timezone.utc)),
                          f"not found in s3://{src.bucket}/"))
            continue
        info = storage.ObjectInfo(key, int(st.get("size") or 0), st.get("LastModified"))
        found.append((info, _check(info, src.extensions, src.max_bytes)))
    return found


def discover(run: RunContext) -> list[dict[str, Any]]:
    """Write one manifest per batch and return their references (never the image list)."""
    src = run.config.source
    keys = [k for k in (run.params.get("keys") or []) if k]
    prefix = run.params.get("prefix") or src.prefix
    max_items = int(run.params.get("max_items") or src.max_items)
    if keys:
        log.info("Using %d explicit keys from the run's parameters.", len(keys))
        checked = _explicit(run, keys)
    else:
        start, end = run.data_interval_start, run.data_interval_end
        use_interval = (
            src.filter_by_last_modified
            and not run.params.get("all_in_prefix")
            and start is not None and end is not None and start < end
        )
        checked = []
        listed = 0
        for info in storage.list_objects(src.bucket, prefix, run.conn_id):
            listed += 1
            if use_interval and not (start <= info.last_modified < end):
                continue
            checked.append((info, _check(info, src.extensions, src.max_bytes)))
        window = f"modified in [{start}, {end})" if use_interval else "whatever their LastModified"
        log.info("Listed %d objects under s3://%s/%s; %d are %s.", listed, src.bucket, prefix, len(checked), window)
    overflow: list = []
    if len(checked) > max_items:
        log.warning("Found %d images; processing the first %d (max_items). The other %d are reported as "
                    "not processed: trigger a run with their keys, or raise max_items.",
                    len(checked), max_items, len(checked) - max_items)
        checked, overflow = checked[:max_items], checked[max_items:]
    invalid = sum(1 for _, reason in checked if reason)
    if invalid:
        log.warning("%d of %d objects fail the cheap checks and will be reported as invalid.", invalid, len(checked))

    size = src.batch_size
    batches = [checked[i : i + size] for i in range(0, len(checked), size)] or [[]]
    if overflow:  # one extra batch, whatever its size: nothing in it is read or inferred
        skip = f"over max_items={max_items}: not processed in this run (trigger a run with this key, or raise max_items)"
        batches.append([(info, None, skip) for info, _ in overflow])
    refs = []
    for n, batch in enumerate(batches):
        manifest = {
            "pipeline": run.config.pipeline,
            "run_key": run.run_key,
            "batch": n,
            "bucket": src.bucket,
            "items": [
                {"key": i.key, "size": i.size, "last_modified": i.last_modified.isoformat() if i.last_modified else None,
                 **({"invalid_reason": reason} if reason else {}), **({"skipped_reason": rest[0]} if rest else {})}
                for i, reason, *rest in batch
            ],
        }
        uri = storage.write_json(run.batch_uri(n, "manifest.json"), manifest, run.conn_id)
        refs.append({"batch": n, "manifest": uri, "items": len(batch)})
    log.info("Wrote %d manifest(s) under %s for %d images.", len(refs), run.work_uri, len(checked))
    return refs
