"""HumanLoopHook: the boto3 `sagemaker-a2i-runtime` client behind an Airflow AWS connection.

The connection decides where calls go: real A2I by default, the local review service when its
extra carries `service_config: {"sagemaker-a2i-runtime": {"endpoint_url": ...}}`.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Iterator

from botocore.config import Config
from botocore.exceptions import ClientError

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from human_review.a2i import DEFAULT_CLIENT_CONFIG
from human_review.exceptions import HumanLoopConflictError, error_code, from_client_error


class HumanLoopHook(AwsBaseHook):
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
        try:
            self.conn.start_human_loop(
                HumanLoopName=name,
                FlowDefinitionArn=flow_definition_arn,
                HumanLoopInput={"InputContent": json.dumps(input_content, sort_keys=True)},
                DataAttributes={"ContentClassifiers": ["FreeOfPersonallyIdentifiableInformation"]},
            )
        except ClientError as e:
            mapped = from_client_error(e)
            # A concurrent start of the same loop (another try of this task) is not an error.
            if not isinstance(mapped, HumanLoopConflictError):
                raise mapped from e
            again = self.describe(name)
            if again is None:
                raise mapped from e
            return again, False
        return self.describe(name) or {"HumanLoopName": name, "HumanLoopStatus": "InProgress"}, True

    def list_loops(
        self, flow_definition_arn: str, *, created_after: dt.datetime | None = None, name_prefix: str = ""
    ) -> Iterator[dict[str, Any]]:
        """Every loop of a flow definition (optionally only one run's, by name prefix), all pages."""
        kwargs: dict[str, Any] = {"FlowDefinitionArn": flow_definition_arn, "SortOrder": "Ascending"}
        if created_after is not None:
            kwargs["CreationTimeAfter"] = created_after
        for page in self.conn.get_paginator("list_human_loops").paginate(**kwargs):
            for summary in page.get("HumanLoopSummaries", []):
                if summary["HumanLoopName"].startswith(name_prefix):
                    yield summary

    def stop(self, name: str) -> None:
        try:
            self.conn.stop_human_loop(HumanLoopName=name)
        except ClientError as e:
            raise from_client_error(e) from e


def human_loop_hook(
    aws_conn_id: str | None, region_name: str | None = None, verify: bool | str | None = None,
    botocore_config: dict[str, Any] | None = None,
) -> HumanLoopHook:
    """A hook from the plain settings a sensor stores and a trigger serialises."""
    return HumanLoopHook(aws_conn_id=aws_conn_id, region_name=region_name, verify=verify,
                         config=Config(**(botocore_config if botocore_config is not None else DEFAULT_CLIENT_CONFIG)))
