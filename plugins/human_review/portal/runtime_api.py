"""The A2I runtime REST API (``sagemaker-a2i-runtime``, protocol rest-json), as botocore's model defines it.

Routes sit at the app root so that ``boto3.client("sagemaker-a2i-runtime", endpoint_url=<service url>)``
works unchanged. Every route first checks the request's SigV4 signature (``sigv4.py``) and the rate
limit; an error is an ``A2IError`` (``errors.py``, store refusals included), which the app answers
in rest-json form.

Database work never runs on the event loop: plain ``def`` routes run in uvicorn's thread pool, and
the ``async`` ones (they await the body) hand the store calls to it with ``run_in_threadpool``.
"""

from __future__ import annotations

import json
from concurrent.futures import wait
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from human_review.portal import a2i_shapes as a2i
from human_review.portal import sigv4
from human_review.portal.errors import A2IError

ACCOUNT = "000000000000"


async def verify_request(request: Request) -> None:
    """Authentication of the A2I API (AWS Signature Version 4), then the requests-per-second limit.

    Over the limit: ThrottlingException 429.
    """
    service = request.app.state.review_service
    settings = service.settings
    if settings.verify_signatures:
        sigv4.verify(
            request.method,
            (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1"),
            (request.scope.get("query_string") or b"").decode("latin-1"),
            request.headers.items(),
            await request.body(),
            access_key_id=settings.aws_access_key_id,
            secret_access_key=settings.aws_secret_access_key,
            # Wall-clock time, not settings.clock: a client signs with the real time even when tests
            # move the service's clock forward.
            now=datetime.now(timezone.utc),
            max_skew_seconds=settings.signature_max_skew_seconds,
            region=settings.region,
        )
    limiter = getattr(service, "rate_limiter", None)
    if limiter is not None and not limiter.try_acquire():
        raise A2IError("ThrottlingException", "Rate exceeded")


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise A2IError("ValidationException", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise A2IError("ValidationException", "The request body must be a JSON object.")
    return body


router = APIRouter(dependencies=[Depends(verify_request)])


@router.post("/human-loops")
async def start_human_loop(request: Request):
    service = request.app.state.review_service
    body = await _json_body(request)
    return await run_in_threadpool(_start_human_loop, service, body)


def _start_human_loop(service, body: dict[str, Any]) -> dict[str, Any]:
    name = a2i.validate_name(body.get("HumanLoopName"))
    arn = body.get("FlowDefinitionArn")
    flow_name = a2i.flow_name(arn)
    content = a2i.input_content(body.get("HumanLoopInput"))
    a2i.check_data_attributes(body.get("DataAttributes"))
    flow = service.flow_definition(flow_name)
    if flow is None:
        raise A2IError(
            "ValidationException",
            f"Flow definition {arn} does not exist: no pipeline in {service.pipelines_dir} defines a flow "
            f"definition named {flow_name!r}.",
        )
    loop, _created = service.store.start_loop(
        name=name,
        arn=f"arn:aws:sagemaker:{service.settings.region}:{ACCOUNT}:human-loop/{name}",
        flow_definition_name=flow_name,
        flow_definition_arn=arn,
        input_content=content,
        output_path=flow.output_path,
        task_count=flow.task_count,
        availability_lifetime_seconds=flow.availability_lifetime_seconds,
        time_limit_seconds=flow.time_limit_seconds,
        max_in_flight=service.settings.max_in_flight_loops,
    )
    return {"HumanLoopArn": loop.arn}


# How long a Describe or List waits for the output.json writes of loops whose answers are all in.
FINALIZE_WAIT_SECONDS = 2.0


def _finalized(service, loops: list) -> list:
    """The loops, each re-read once its output.json is written if every answer is in and the file
    was not written yet. The writes run on the service's output threads (joined if already queued);
    the read waits for all of them FINALIZE_WAIT_SECONDS at most, then answers with what is done (a
    loop not written yet reads InProgress; the background sweep retries a write that failed)."""
    pending = {loop.name: service.writer.finalize_later(loop) for loop in loops if loop.awaiting_output}
    if not pending:
        return loops
    wait(pending.values(), timeout=FINALIZE_WAIT_SECONDS)
    done = {name for name, f in pending.items() if f.done() and f.result()}
    return [(service.store.get_loop(loop.name) or loop) if loop.name in done else loop for loop in loops]


@router.get("/human-loops")
def list_human_loops(request: Request):
    service = request.app.state.review_service
    q = request.query_params
    flow_name = a2i.flow_name(q.get("FlowDefinitionArn"))
    if service.flow_definition(flow_name) is None and not service.store.list_loops(flow_name, limit=1)[0]:
        raise A2IError("ResourceNotFoundException", f"Flow definition {q.get('FlowDefinitionArn')} does not exist.")
    order = q.get("SortOrder") or "Descending"
    if order not in ("Ascending", "Descending"):
        raise A2IError("ValidationException", f"SortOrder {order!r} is not one of Ascending, Descending.")
    limit = 100
    if q.get("MaxResults") is not None:
        try:
            limit = int(q["MaxResults"])
        except ValueError:
            raise A2IError("ValidationException", "MaxResults must be an integer.") from None
        if not 1 <= limit <= 100:
            raise A2IError("ValidationException", f"MaxResults {limit} is not between 1 and 100.")
    after = a2i.parse_time(q["CreationTimeAfter"], "CreationTimeAfter") if q.get("CreationTimeAfter") else None
    before = a2i.parse_time(q["CreationTimeBefore"], "CreationTimeBefore") if q.get("CreationTimeBefore") else None
    after_id = None
    if q.get("NextToken"):
        token = a2i.decode_next_token(q["NextToken"])
        if token.get("flow") != flow_name or token.get("order") != order:
            raise A2IError("ValidationException", "The NextToken belongs to a different query.")
        after_id = token["after"]
    loops, next_id = service.store.list_loops(
        flow_name,
        created_after=after,
        created_before=before,
        ascending=order == "Ascending",
        limit=limit,
        after_id=after_id,
    )
    loops = _finalized(service, loops)
    out: dict[str, Any] = {"HumanLoopSummaries": [a2i.loop_summary(loop) for loop in loops]}
    if next_id is not None:
        out["NextToken"] = a2i.encode_next_token({"after": next_id, "flow": flow_name, "order": order})
    return out


@router.post("/human-loops/stop")
async def stop_human_loop(request: Request):
    service = request.app.state.review_service
    body = await _json_body(request)
    name = a2i.validate_name(body.get("HumanLoopName"))
    await run_in_threadpool(service.store.stop_loop, name)
    return {}


@router.get("/human-loops/{name}")
def describe_human_loop(name: str, request: Request):
    service = request.app.state.review_service
    a2i.validate_name(name)
    loop = service.store.get_loop(name)
    if loop is None:
        raise A2IError("ResourceNotFoundException", f"Human loop {name!r} does not exist.")
    return a2i.describe_loop(_finalized(service, [loop])[0])


@router.delete("/human-loops/{name}")
def delete_human_loop(name: str, request: Request):
    service = request.app.state.review_service
    a2i.validate_name(name)
    service.store.delete_loop(name)
    return Response(status_code=200, content=b"{}", media_type="application/json")
