"""HumanLoopHook: the boto3 `sagemaker-a2i-runtime` client behind an Airflow AWS connection.

The connection decides where calls go: real A2I by default, the local review service when its
extra carries `service_config: {"sagemaker-a2i-runtime": {"endpoint_url": ...}}`.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any, AsyncIterator, Iterator

from botocore.config import Config
from botocore.exceptions import ClientError

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from human_review.a2i import DEFAULT_CLIENT_CONFIG
from human_review.exceptions import HumanLoopConflictError, error_code, from_client_error


# The caller providers-amazon names in each client's User-Agent (`Caller/...`) for the hooks below.
CALLER = "HumanReviewTask"


@functools.cache
def user_agent() -> str:
    """The User-Agent our clients send before providers-amazon's `Airflow/... Caller/...` fields:
    what botocore would say of the SDK, the OS and Python, built once per process."""
    import platform

    import boto3

    return (f"Boto3/{boto3.__version__} ua/2.1 "
            f"os/{platform.system().lower()}#{platform.release()} lang/python#{platform.python_version()} "
            f"md/pyimpl#{platform.python_implementation()} app/human-review")


class NamedCaller:
    """Our hooks' clients: the caller named, and a User-Agent built once, not once per request.

    To fill the User-Agent's `Caller/` field, AwsGenericHook walks the whole call stack with
    `inspect.stack()` each time it makes a client, which reads the source file behind every frame
    of the task runner: about a quarter of a second of CPU per client in a task process, as much as
    a route task's own work on a batch. Our hooks are always called from this project's tasks.

    botocore builds the User-Agent header twice for every request, from a dozen components it
    cleans one character at a time in Python: 39 us a build here, 0.16 ms of CPU per image in infer
    (a GetObject and an InvokeEndpoint), more than a twentieth of infer's client CPU. With botocore's
    `Config(user_agent=...)` it joins three strings instead. The header keeps the SDK, OS and Python
    versions and the provider's fields; it loses botocore's per-request feature codes (`m/...`).
    A `user_agent` set in the connection's `config_kwargs` is kept."""

    def _get_caller(self, target_function_name: str = "execute") -> str:
        return CALLER

    def _get_config(self, config: Config | None = None) -> Config:
        merged = super()._get_config(config)  # type: ignore[misc]  (AwsGenericHook's)
        if merged.user_agent is None:
            merged = merged.merge(Config(user_agent=user_agent()))
        return merged


class ReviewAwsHook(NamedCaller, AwsBaseHook):
    """AwsBaseHook for a given `client_type`: the S3 client of storage.py (S3Hook's client is this
    same base client with client_type "s3") and the model backends' SageMaker runtime and
    Rekognition clients."""


class HumanLoopHook(NamedCaller, AwsBaseHook):
    """Start, describe, list and stop A2I human loops."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "sagemaker-a2i-runtime"
        kwargs.setdefault("config", Config(**DEFAULT_CLIENT_CONFIG))
        super().__init__(*args, **kwargs)

    def describe(self, name: str) -> dict[str, Any] | None:
        """The loop, or None when no loop has this name."""
        try:
            return self.conn.describe_human_loop(HumanLoopName=name)
        except ClientError as e:
            if error_code(e) == "ResourceNotFoundException":
                return None
            raise from_client_error(e) from e

    def ensure_started(
        self, name: str, flow_definition_arn: str, input_content: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """Start the loop unless it exists: returns (its description, whether this call started it).

        One describe first: a retried or re-run task finds its loop (in any status) and starts
        nothing, which also covers loops that already finished.
        """
        existing = self.describe(name)
        if existing is not None:
            return existing, False
        # a concurrent start of the same loop (another try of this task) is answered by start()
        desc, new = self.start(name, flow_definition_arn, input_content)
        return (self.describe(name) or desc, True) if new else (desc, False)

    def start(self, name: str, flow_definition_arn: str, input_content: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """One StartHumanLoop in the common case: returns (what is known of the loop, whether this
        call started it).

        Idempotent without a describe first: A2I (and the local service) accept the same name with
        the same input again and start nothing; a ConflictException (same name, other input: the
        loop an earlier try started, or one that finished) is answered with one describe. The
        description of a new loop carries no CreationTime: the caller knows a lower bound (the
        run's start, stages/run.py)."""
        try:
            response = self.conn.start_human_loop(
                HumanLoopName=name,
                FlowDefinitionArn=flow_definition_arn,
                HumanLoopInput={"InputContent": json.dumps(input_content, sort_keys=True)},
                DataAttributes={"ContentClassifiers": ["FreeOfPersonallyIdentifiableInformation"]},
            )
        except ClientError as e:
            mapped = from_client_error(e)
            if not isinstance(mapped, HumanLoopConflictError):
                raise mapped from e
            existing = self.describe(name)
            if existing is None:
                raise mapped from e
            return existing, False
        return {"HumanLoopName": name, "HumanLoopArn": response.get("HumanLoopArn"), "HumanLoopStatus": "InProgress"}, True

    @staticmethod
    def _list_kwargs(flow_definition_arn: str, created_after: dt.datetime | None) -> dict[str, Any]:
        # pages of 100 (the API's maximum, asked for explicitly): 5,000 open loops cost 50 List calls
        kwargs: dict[str, Any] = {"FlowDefinitionArn": flow_definition_arn, "SortOrder": "Ascending",
                                  "PaginationConfig": {"PageSize": 100}}
        if created_after is not None:
            kwargs["CreationTimeAfter"] = created_after
        return kwargs

    def list_loops(
        self, flow_definition_arn: str, *, created_after: dt.datetime | None = None, name_prefix: str = ""
    ) -> Iterator[dict[str, Any]]:
        """Every loop of a flow definition (optionally only one run's, by name prefix), all pages."""
        paginator = self.conn.get_paginator("list_human_loops")
        for page in paginator.paginate(**self._list_kwargs(flow_definition_arn, created_after)):
            for summary in page.get("HumanLoopSummaries", []):
                if summary["HumanLoopName"].startswith(name_prefix):
                    yield summary

    async def alist_loops(
        self, flow_definition_arn: str, *, created_after: dt.datetime | None = None, name_prefix: str = ""
    ) -> AsyncIterator[dict[str, Any]]:
        """`list_loops` for the triggerer: the same pages through aiobotocore, without blocking its loop."""
        async with await self.get_async_conn() as client:
            paginator = client.get_paginator("list_human_loops")
            async for page in paginator.paginate(**self._list_kwargs(flow_definition_arn, created_after)):
                for summary in page.get("HumanLoopSummaries", []):
                    if summary["HumanLoopName"].startswith(name_prefix):
                        yield summary

    def stop(self, name: str) -> None:
        try:
            self.conn.stop_human_loop(HumanLoopName=name)
        except ClientError as e:
            raise from_client_error(e) from e
