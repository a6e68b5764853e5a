"""output.json: the document A2I writes to S3 when a human loop completes, in A2I's exact shape."""

from __future__ import annotations

import json
import logging
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


def build_output(loop: Loop, answers: list[Task], issuer: str) -> dict[str, Any]:
    human_answers = []
    for a in answers:
        assert a.claimed_at is not None and a.submitted_at is not None and a.worker_id is not None
        human_answers.append(
            {
                "acceptanceTime": a2i_time(a.claimed_at),
                "answerContent": a.answer,
                "submissionTime": a2i_time(a.submitted_at),
                "timeSpentInSeconds": round((a.submitted_at - a.claimed_at).total_seconds(), 3),
                "workerId": a.worker_id,
                "workerMetadata": {
                    "identityData": {"identityProviderType": "Local", "issuer": issuer, "sub": a.worker_id}
                },
            }
        )
    return {
        "flowDefinitionArn": loop.flow_definition_arn,
        "humanAnswers": human_answers,
        "humanLoopName": loop.name,
        "inputContent": loop.input,
    }


class OutputWriter:
    """Writes output.json for loops whose answers are all in, then marks them Completed."""

    def __init__(self, store: Store, s3_client_factory, issuer: str):
        self.store = store
        self._s3_factory = s3_client_factory
        self._s3 = None
        self.issuer = issuer

    @property
    def s3(self):
        if self._s3 is None:
            self._s3 = self._s3_factory()
        return self._s3

    def finalize(self, loop: Loop) -> bool:
        """Write the loop's output.json, then mark it Completed (so Completed implies the file exists)."""
        bucket, key = output_location(loop)
        body = build_output(loop, self.store.answers(loop.name), self.issuer)
        try:
            self.s3.put_object(
                Bucket=bucket, Key=key, Body=json.dumps(body).encode(), ContentType="application/json"
            )
        except Exception:
            log.exception("could not write output.json of human loop %s to s3://%s/%s; will retry", loop.name, bucket, key)
            return False
        return self.store.mark_completed(loop.name, f"s3://{bucket}/{key}")

    def finalize_pending(self) -> None:
        for loop in self.store.loops_to_finalize():
            self.finalize(loop)
