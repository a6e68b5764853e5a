"""Discover: the objects that arrived during the run's data interval, in batches.

Cheap checks happen here (extension, size) from the listing alone; content checks (magic bytes,
a full decode) happen in infer, which reads every byte anyway, so no object is read twice.
"""

from __future__ import annotations

import logging
from human_review import storage
from human_review.partitions import EXAMPLE
from human_review.records import BatchRef, Manifest, ManifestItem
from human_review.schedules import covered_start
from human_review.stages.run import RunContext

log = logging.getLogger(__name__)


def _check(info: storage.ObjectInfo, extensions: tuple[str, ...], max_bytes: int) -> str | None:
    name = info.key.rsplit("/", 1)[-1].strip()  # a key may end in spaces; its extension is still its own
    ext = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
    if ext not in extensions:
        return f"unsupported extension {ext or '(none)'!r}; accepted: {', '.join(extensions)}"
    if info.size == 0:
        return "empty file (0 bytes)"
    if info.size > max_bytes:
        return f"{info.size:,} bytes is over the {max_bytes:,} byte limit"
    return None


def _explicit(run: RunContext, keys: list[str]) -> list[tuple[storage.ObjectInfo, str | None]]:
    """The explicit keys, each exactly as given (S3 keys may start with '/' or hold spaces); a key
    pasted with a stray leading '/' or spaces is found under its trimmed spelling when only that exists."""
    import datetime as dt

    src = run.config.source
    client = storage.s3_client(run.conn_id)  # the client the listing and infer use: one HeadObject a key
    found = []
    seen: set[str] = set()
    for given in keys:
        info = None
        for key in dict.fromkeys((given, given.strip().lstrip("/"))):
            info = storage.head(client, src.bucket, key)
            if info is not None:
                break
        if info is None:
            info = storage.ObjectInfo(given, 0, dt.datetime.now(dt.timezone.utc))
            reason: str | None = f"not found in s3://{src.bucket}/ (key {given!r})"
        else:
            reason = _check(info, src.extensions, src.max_bytes)
        if info.key in seen:  # a repeat: one row per object
            continue
        seen.add(info.key)
        found.append((info, reason))
    return found


def _item(info: storage.ObjectInfo, invalid_reason: str | None = None, skipped_reason: str | None = None
          ) -> ManifestItem:
    return ManifestItem(key=info.key, size=info.size,
                        last_modified=info.last_modified.isoformat() if info.last_modified else None,
                        invalid_reason=invalid_reason, skipped_reason=skipped_reason)


BIG_PREFIX = 10_000  # objects listed: past this, and mostly outside the interval, say how to partition


def _listing(run: RunContext, prefix: str) -> list[tuple[storage.ObjectInfo, str | None]]:
    """The interval's objects under the (possibly templated) prefix, from a streamed listing."""
    from human_review.partitions import render

    src = run.config.source
    start, end = run.data_interval_start, run.data_interval_end
    if start is not None:
        covered = covered_start(start, run.previous_success_end, run.config.cover_missed_hours)
        if covered < start:
            log.warning("The previous successful run's interval ended at %s, before this run's starts (%s): "
                        "listing from %s so the missed time is reviewed too.", run.previous_success_end,
                        start, covered)
            start = covered
    use_interval = (src.filter_by_last_modified and not run.params.get("all_in_prefix")
                    and start is not None and end is not None and start < end)
    try:
        prefixes = render(prefix, start, end)
    except ValueError as e:
        raise ValueError(f"source.prefix / the run's 'prefix' parameter: {e}") from None
    client = storage.s3_client(run.conn_id)
    checked = []
    listed = 0
    for p in prefixes:
        for info in storage.iter_objects(client, src.bucket, p):
            listed += 1
            if use_interval and not (start <= info.last_modified < end):
                continue
            checked.append((info, _check(info, src.extensions, src.max_bytes)))
    window = f"modified in [{start}, {end})" if use_interval else "whatever their LastModified"
    where = ", ".join(f"s3://{src.bucket}/{p}" for p in prefixes)
    log.info("Listed %d objects under %s; %d are %s.", listed, where, len(checked), window)
    if use_interval and listed > BIG_PREFIX and listed > 4 * len(checked):
        log.warning(
            "Listed %d objects to find %d new ones: the cost of this listing grows with the prefix's history. "
            "Upload into date folders and template the prefix from the data interval, e.g. source.prefix: %r "
            "(docs: README, Performance).", listed, len(checked), EXAMPLE)
    return checked


def record_run_start(run: RunContext) -> str:
    """The run's start time, written once per run_key: a rerun keeps the first, so loops started
    by an earlier try of the same run are still found by the wait and the report."""
    import datetime as dt

    uri = run.run_info_uri
    try:
        return storage.read_json(uri, run.conn_id)["started"]
    except FileNotFoundError:
        started = dt.datetime.now(dt.timezone.utc).isoformat()
        storage.write_json(uri, {"started": started, "run_key": run.run_key}, run.conn_id)
        return started


def discover(run: RunContext) -> list[BatchRef]:
    """Write one manifest per batch and return their references (never the image list)."""
    from human_review.stages.batching import batch_size

    src = run.config.source
    keys = [k for k in (run.params.get("keys") or []) if k]
    prefix = run.params.get("prefix") or src.prefix
    max_items = int(run.params.get("max_items") or src.max_items)
    record_run_start(run)
    if keys:
        log.info("Using %d explicit keys from the run's parameters.", len(keys))
        checked = _explicit(run, keys)
    else:
        checked = _listing(run, prefix)
    overflow: list = []
    if len(checked) > max_items:
        log.warning("Found %d images; processing the first %d (max_items). The other %d are reported as "
                    "not processed: trigger a run with their keys, or raise max_items.",
                    len(checked), max_items, len(checked) - max_items)
        checked, overflow = checked[:max_items], checked[max_items:]
    invalid = sum(1 for _, reason in checked if reason)
    if invalid:
        log.warning("%d of %d objects fail the cheap checks and will be reported as invalid.", invalid, len(checked))
        rejected = [(info.key, reason) for info, reason in checked if reason]
        for key, reason in rejected[:50]:
            log.warning("  rejected s3://%s/%s: %s", src.bucket, key, reason)
        if len(rejected) > 50:
            log.warning("  ... and %d more (the report lists every one with its reason).", len(rejected) - 50)

    size = batch_size(len(checked) + len(overflow), src.parallel_batches, src.batch_size)
    items = [_item(info, reason) for info, reason in checked]
    if overflow:  # batches of their own, like any other: nothing in them is read or inferred
        skip = f"over max_items={max_items}: not processed in this run (trigger a run with this key, or raise max_items)"
        items += [_item(info, skipped_reason=skip) for info, _ in overflow]
    batches = [items[i : i + size] for i in range(0, len(items), size)] or [[]]
    refs = []
    for n, batch in enumerate(batches):
        manifest = Manifest(pipeline=run.config.pipeline, run_key=run.run_key, batch=n, bucket=src.bucket, items=batch)
        uri = storage.write_json(run.batch_uri(n, "manifest.json"), manifest.to_dict(), run.conn_id)
        refs.append(BatchRef(batch=n, manifest=uri, items=len(batch), batches=len(batches)))
    log.info("Wrote %d manifest(s) of up to %d images under %s for %d images.", len(refs), size, run.work_uri,
             len(checked))
    return refs
