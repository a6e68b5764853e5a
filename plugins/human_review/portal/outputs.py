"""output.json: the document A2I writes to S3 when a human loop completes, in A2I's exact shape."""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
import uuid
from concurrent.futures import Future, wait
from datetime import datetime
from typing import Any

from human_review.portal.store import Loop, Store, Task

log = logging.getLogger(__name__)


def a2i_time(dt: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, milliseconds)."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def split_s3_uri(uri: str) -> tuple[str, str]:
    rest = uri.removeprefix("s3://")
    bucket, _, key = rest.partition("/")
    return bucket, key


def output_location(loop: Loop) -> tuple[str, str]:
    """(bucket, key) as A2I lays them out: <output_path>/<flow>/YYYY/MM/DD/hh/mm/ss/<loop>/output.json."""
    bucket, prefix = split_s3_uri(loop.output_path)
    stamp = loop.created_at.strftime("%Y/%m/%d/%H/%M/%S")
    parts = [p for p in (prefix.strip("/"), loop.flow_definition_name, stamp, loop.name, "output.json") if p]
    return bucket, "/".join(parts)


def worker_identity(issuer: str, worker: str) -> tuple[str, dict[str, str]]:
    """(workerId, identityData) of a reviewer, as A2I writes them: opaque and stable per worker.

    AWS (https://docs.aws.amazon.com/sagemaker/latest/dg/a2i-output-data.html) writes a 16-character
    workerId and ``workerMetadata.identityData`` with ``identityProviderType`` ("Cognito" or "Oidc"),
    ``issuer`` (the identity provider's URL) and ``sub`` (the worker's id there). Locally the
    identity comes from the portal's sign-in or Airflow's auth manager, an OIDC-like provider: the
    type is "Oidc", the issuer the service's (setting ``issuer``), and both ids derive from the
    issuer and the reviewer's name, so they are the same for that reviewer in every loop.
    """
    digest = hashlib.sha256(f"{issuer}\n{worker}".encode()).hexdigest()
    sub = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{issuer}#{worker}"))
    return digest[:16], {"identityProviderType": "Oidc", "issuer": issuer, "sub": sub}


def time_spent(task: Task) -> float:
    """timeSpentInSeconds: the reviewer's active time on the task page, as A2I reports it; the wall
    time from claim to submission when the page did not measure it (an API client), never more."""
    assert task.claimed_at is not None and task.submitted_at is not None
    wall = (task.submitted_at - task.claimed_at).total_seconds()
    active = task.active_seconds
    return round(min(active, wall) if active is not None else wall, 3)


def build_output(loop: Loop, answers: list[Task], issuer: str) -> dict[str, Any]:
    human_answers = []
    for a in answers:
        assert a.claimed_at is not None and a.submitted_at is not None and a.worker_id is not None
        worker_id, identity = worker_identity(issuer, a.worker_id)
        human_answers.append(
            {
                "acceptanceTime": a2i_time(a.claimed_at),
                "answerContent": a.answer,
                "submissionTime": a2i_time(a.submitted_at),
                "timeSpentInSeconds": time_spent(a),
                "workerId": worker_id,
                "workerMetadata": {"identityData": identity},
            }
        )
    return {
        "flowDefinitionArn": loop.flow_definition_arn,
        "humanAnswers": human_answers,
        "humanLoopName": loop.name,
        "inputContent": loop.input,
    }


def reviewers_location(loop: Loop) -> tuple[str, str]:
    """(bucket, key) of reviewers.json, next to output.json: {workerId: reviewer name}. A2I writes no
    such file; the local service keeps the names here, outside output.json, for the report."""
    bucket, key = output_location(loop)
    return bucket, key.rsplit("/", 1)[0] + "/reviewers.json"


class OutputWriter:
    """Writes output.json for loops whose answers are all in, then marks them Completed.

    The worker's submit does not wait for S3: it hands the loop to `finalize_later`, and a few
    background threads write the files (A2I too completes a loop a moment after the last answer).
    Until then the loop reads InProgress with every answer in. A Describe or List that meets such
    a loop queues its write (or joins the one queued: a loop is never written twice at once) and
    waits for it a bounded time, so a stalled S3 slows a read by at most that, never hangs it. A
    write that fails is logged and retried by the service's background sweep.
    """

    def __init__(self, store: Store, s3_client_factory, issuer: str, threads: int = 4):
        self.store = store
        self._s3_factory = s3_client_factory
        self._s3 = None
        self._s3_lock = threading.Lock()
        self.issuer = issuer
        self._threads = max(1, threads)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []
        self._inflight: dict[str, Future] = {}  # loop name -> its write under way
        self._inflight_lock = threading.Lock()
        self._closed = False

    @property
    def s3(self):
        # submits run in a thread pool: make the client once (boto3 client creation is not thread-safe)
        with self._s3_lock:
            if self._s3 is None:
                self._s3 = self._s3_factory()
        return self._s3

    def finalize_later(self, loop: Loop) -> Future:
        """Queue the loop's output.json for the background threads (they write it, then mark the
        loop Completed, so Completed implies the file exists). Returns the future of its write (the
        one already queued, if any): True once the loop is Completed, False if the write failed."""
        with self._inflight_lock:
            running = self._inflight.get(loop.name)
            if running is not None:
                return running
            mine: Future = Future()
            if self._closed:  # shut down: nothing writes any more (the database keeps the answers)
                mine.set_result(False)
                return mine
            self._inflight[loop.name] = mine
            if not self._workers:
                # Daemon threads: a write stuck on an unreachable S3 never holds up the process's
                # exit; what was not written is still in the database and the sweep writes it later.
                for i in range(self._threads):
                    t = threading.Thread(target=self._work, name=f"review-output-{i}", daemon=True)
                    t.start()
                    self._workers.append(t)
        self._queue.put((loop, mine))
        return mine

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._write(*item)

    def _write(self, loop: Loop, future: Future) -> None:
        ok = False
        try:
            ok = self._write_now(loop)
        except Exception:  # noqa: BLE001 - logged; the sweep retries
            log.exception("could not finalize human loop %s; will retry", loop.name)
        finally:
            with self._inflight_lock:
                self._inflight.pop(loop.name, None)
            future.set_result(ok)

    def _write_now(self, loop: Loop) -> bool:
        bucket, key = output_location(loop)
        answers = self.store.answers(loop.name)
        body = build_output(loop, answers, self.issuer)
        names = {worker_identity(self.issuer, a.worker_id)[0]: a.worker_id for a in answers if a.worker_id}
        try:
            r_bucket, r_key = reviewers_location(loop)
            self.s3.put_object(Bucket=r_bucket, Key=r_key, Body=json.dumps(names).encode(),
                               ContentType="application/json")
            self.s3.put_object(
                Bucket=bucket, Key=key, Body=json.dumps(body).encode(), ContentType="application/json"
            )
        except Exception:
            log.exception("could not write output.json of human loop %s to s3://%s/%s; will retry", loop.name, bucket, key)
            return False
        return self.store.mark_completed(loop.name, f"s3://{bucket}/{key}")

    def pending(self) -> int:
        """Writes queued or under way."""
        with self._inflight_lock:
            return len(self._inflight)

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every queued write is done (True) or `timeout` passes (False)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._inflight_lock:
                futures = list(self._inflight.values())
            if not futures:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            wait(futures, timeout=left)

    def close(self, timeout: float = 10.0) -> None:
        """Finish queued writes (up to `timeout`), then stop the threads."""
        self.drain(timeout)
        with self._inflight_lock:
            self._closed = True
            workers, self._workers = self._workers, []
        for _ in workers:
            self._queue.put(None)
