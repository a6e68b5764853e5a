"""The baseline: the sequential loop AWS's sample notebooks teach, written the way they write it.

List the prefix, and for each object: get_object, invoke_endpoint, threshold the detections,
start_human_loop (uuid4 names, as in the samples) for the unsure ones. One image at a time, in
one thread. Errors on one image are counted and skipped (kinder than the samples, which stop).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any


def run_notebook_loop(s3, runtime, a2i, *, bucket: str, prefix: str, endpoint: str, flow_arn: str,
                      min_score: float = 0.2, threshold: float = 0.6) -> dict[str, Any]:
    """Returns images, wall_s, cpu_s (this process's CPU during the loop), loops_started, errors."""
    t0, c0 = time.perf_counter(), time.process_time()
    images = loops = errors = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if not key.lower().endswith((".jpg", ".jpeg", ".png")):
                continue
            images += 1
            try:
                body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                response = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="image/jpeg", Body=body)
                result = json.loads(response["Body"].read())
                boxes = [p for p in result["prediction"] if p[1] >= min_score]
                if any(p[1] < threshold for p in boxes):
                    a2i.start_human_loop(
                        HumanLoopName=str(uuid.uuid4()),
                        FlowDefinitionArn=flow_arn,
                        HumanLoopInput={"InputContent": json.dumps({"taskObject": f"s3://{bucket}/{key}",
                                                                    "prediction": boxes})},
                    )
                    loops += 1
            except Exception:  # noqa: BLE001 - the baseline skips what fails, counting it
                errors += 1
    return {"images": images, "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
            "loops_started": loops, "errors": errors}
