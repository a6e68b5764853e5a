"""Make a pipeline's worker task UI and flow definition exist: describe first, create only what is missing.

The SageMaker client comes from providers-amazon's SageMakerHook behind the pipeline's Airflow
AWS connection (`aws_conn_id`) in the flow definition's region, exactly as the DAGs reach AWS.
Tests hand in a client wrapped in botocore's Stubber.

For each pipeline:
1. DescribeHumanTaskUi(<template>-<digest>); CreateHumanTaskUi when it is not there.
2. DescribeFlowDefinition(<name>-<digest>); CreateFlowDefinition when it is not there. One of that
   name with other settings (made by hand) is an error, never overwritten.
3. Poll DescribeFlowDefinition until Active (bounded). Failed gives its FailureReason and what to do.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from botocore.exceptions import ClientError

from human_review.aws_setup.plan import PlanError, SetupPlan, arn_variable, plan
from human_review.config import PipelineConfig

NOT_FOUND = frozenset({"ResourceNotFound", "ResourceNotFoundException"})


class SetupError(RuntimeError):
    """Something on AWS is not as it must be; the message says what and what to do."""


def error_code(e: ClientError) -> str:
    return e.response.get("Error", {}).get("Code", "")


def is_not_found(e: ClientError) -> bool:
    code = error_code(e)
    message = e.response.get("Error", {}).get("Message", "").lower()
    return code in NOT_FOUND or (code == "ValidationException" and ("not exist" in message or "not found" in message))


def sagemaker_client(config: PipelineConfig, aws_conn_id: str | None = None) -> Any:
    """The boto3 `sagemaker` client behind the pipeline's connection, in its flow definition's region."""
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

    conn_id = config.aws_conn_id if aws_conn_id is None else (aws_conn_id or None)
    return SageMakerHook(aws_conn_id=conn_id, region_name=config.review.flow_definition.region).conn


def describe_or_none(call: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any] | None:
    try:
        return call(**kwargs)
    except ClientError as e:
        if is_not_found(e):
            return None
        raise


@dataclass
class SetupResult:
    pipeline: str
    source_file: str
    task_ui_name: str
    task_ui_arn: str | None
    task_ui_created: bool
    flow_definition_name: str
    flow_definition_arn: str | None
    flow_definition_created: bool
    flow_definition_status: str | None
    yaml_arn: str | None
    arn_variable: str | None
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def yaml_up_to_date(self) -> bool:
        return bool(self.flow_definition_arn) and self.yaml_arn == self.flow_definition_arn

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        def state(created: bool, arn: str | None) -> str:
            if self.dry_run:
                return "exists" if arn and not created else "would be created"
            return "created" if created else "exists, unchanged"

        out = [f"{self.pipeline} ({self.source_file})",
               f"  worker task UI   {self.task_ui_name}: {state(self.task_ui_created, self.task_ui_arn)}"
               + (f"\n                   {self.task_ui_arn}" if self.task_ui_arn else ""),
               f"  flow definition  {self.flow_definition_name}: "
               f"{state(self.flow_definition_created, self.flow_definition_arn)}"
               + (f", {self.flow_definition_status}" if self.flow_definition_status else "")
               + (f"\n                   {self.flow_definition_arn}" if self.flow_definition_arn else "")]
        out += [f"  note: {n}" for n in self.notes]
        if self.flow_definition_arn and not self.yaml_up_to_date:
            if self.arn_variable:
                out.append(f"  put in the YAML's environment ({self.source_file} reads ${{{self.arn_variable}}}):\n"
                           f"    {self.arn_variable}={self.flow_definition_arn}")
            else:
                out.append(f"  put in {self.source_file}:\n    review.flow_definition.arn: {self.flow_definition_arn}")
        elif self.yaml_up_to_date:
            out.append("  the YAML already names this flow definition")
        return out


def ensure_task_ui(client: Any, setup: SetupPlan, *, dry_run: bool = False) -> tuple[str | None, bool]:
    """(the UI's ARN, whether this call created it); the ARN is None only in a dry run."""
    ui = setup.task_ui
    found = describe_or_none(client.describe_human_task_ui, HumanTaskUiName=ui.name)
    if found is not None:
        if found.get("HumanTaskUiStatus") == "Deleting":
            raise SetupError(f"worker task UI {ui.name} is being deleted; run aws-setup again once it is gone")
        return found["HumanTaskUiArn"], False
    if dry_run:
        return None, True
    try:
        return client.create_human_task_ui(**ui.create_request())["HumanTaskUiArn"], True
    except ClientError as e:
        if error_code(e) != "ResourceInUse":  # made meanwhile by a concurrent aws-setup
            raise
        return client.describe_human_task_ui(HumanTaskUiName=ui.name)["HumanTaskUiArn"], False


def _normalised(settings: dict[str, Any]) -> dict[str, Any]:
    """The comparable part of a CreateFlowDefinition request or a DescribeFlowDefinition answer."""
    loop = dict(settings.get("HumanLoopConfig") or {})
    loop.setdefault("TaskKeywords", [])
    out: dict[str, Any] = {
        "HumanLoopConfig": loop,
        "S3OutputPath": (settings.get("OutputConfig") or {}).get("S3OutputPath", "").rstrip("/"),
        "RoleArn": settings.get("RoleArn"),
        "HumanLoopRequestSource": (settings.get("HumanLoopRequestSource") or {}).get("AwsManagedHumanLoopRequestSource"),
    }
    raw = ((settings.get("HumanLoopActivationConfig") or {}).get("HumanLoopActivationConditionsConfig") or {}).get(
        "HumanLoopActivationConditions")
    out["HumanLoopActivationConditions"] = json.loads(raw) if raw else None
    return out


def differences(desired: dict[str, Any], described: dict[str, Any]) -> list[str]:
    """Which settings of a described flow definition differ from a CreateFlowDefinition request."""
    want, have = _normalised(desired), _normalised(described)
    diffs = []
    for key in sorted(set(want["HumanLoopConfig"]) | set(have["HumanLoopConfig"])):
        a, b = want["HumanLoopConfig"].get(key), have["HumanLoopConfig"].get(key)
        if a != b:
            diffs.append(f"{key}: {b!r} on AWS, {a!r} wanted")
    for key in ("S3OutputPath", "RoleArn", "HumanLoopRequestSource", "HumanLoopActivationConditions"):
        if want[key] != have[key]:
            diffs.append(f"{key}: {have[key]!r} on AWS, {want[key]!r} wanted")
    return diffs


def failed_message(name: str, described: dict[str, Any]) -> str:
    reason = described.get("FailureReason") or "no reason given"
    return (f"flow definition {name} is Failed: {reason}. Fix the cause (often: SageMaker cannot assume "
            f"{described.get('RoleArn', 'the role')}, or it may not write to the output path), delete it "
            f"(aws sagemaker delete-flow-definition --flow-definition-name {name}) and run aws-setup again")


def wait_until_active(client: Any, name: str, *, wait_seconds: float, poll_seconds: float,
                      sleep: Callable[[float], None] = time.sleep,
                      clock: Callable[[], float] = time.monotonic, first: dict[str, Any] | None = None) -> dict[str, Any]:
    """Poll DescribeFlowDefinition until Active; SetupError when Failed, Deleting or out of time."""
    deadline = clock() + wait_seconds
    described = first or client.describe_flow_definition(FlowDefinitionName=name)
    while True:
        status = described["FlowDefinitionStatus"]
        if status == "Active":
            return described
        if status == "Failed":
            raise SetupError(failed_message(name, described))
        if status == "Deleting":
            raise SetupError(f"flow definition {name} is being deleted; run aws-setup again once it is gone")
        if clock() + poll_seconds > deadline:
            raise SetupError(f"flow definition {name} is still {status} after {wait_seconds:.0f} s; "
                             "run aws-setup again later (it finds it and waits again)")
        sleep(poll_seconds)
        described = client.describe_flow_definition(FlowDefinitionName=name)


def ensure_flow_definition(client: Any, setup: SetupPlan, task_ui_arn: str | None, *, dry_run: bool = False,
                           wait_seconds: float = 300, poll_seconds: float = 5,
                           sleep: Callable[[float], None] = time.sleep,
                           clock: Callable[[], float] = time.monotonic) -> tuple[str | None, bool, str | None]:
    """(its ARN, whether this call created it, its status); ARN None only in a dry run."""
    fd = setup.flow_definition
    found = describe_or_none(client.describe_flow_definition, FlowDefinitionName=fd.name)
    if found is not None:
        if task_ui_arn is not None:
            diffs = differences(fd.create_request(task_ui_arn), found)
            if diffs:
                raise SetupError(
                    f"flow definition {fd.name} exists with other settings ({'; '.join(diffs)}); aws-setup did not "
                    f"make it. Delete it (aws sagemaker delete-flow-definition --flow-definition-name {fd.name}) "
                    "and run aws-setup again")
        if dry_run:
            return found["FlowDefinitionArn"], False, found["FlowDefinitionStatus"]
        found = wait_until_active(client, fd.name, wait_seconds=wait_seconds, poll_seconds=poll_seconds,
                                  sleep=sleep, clock=clock, first=found)
        return found["FlowDefinitionArn"], False, found["FlowDefinitionStatus"]
    if dry_run:
        return None, True, None
    assert task_ui_arn is not None
    try:
        arn = client.create_flow_definition(**fd.create_request(task_ui_arn))["FlowDefinitionArn"]
        created = True
    except ClientError as e:
        if error_code(e) != "ResourceInUse":
            raise
        arn, created = client.describe_flow_definition(FlowDefinitionName=fd.name)["FlowDefinitionArn"], False
    described = wait_until_active(client, fd.name, wait_seconds=wait_seconds, poll_seconds=poll_seconds,
                                  sleep=sleep, clock=clock)
    return arn, created, described["FlowDefinitionStatus"]


def apply_pipeline(config: PipelineConfig, client: Any = None, *, dry_run: bool = False, wait_seconds: float = 300,
                   poll_seconds: float = 5, sleep: Callable[[float], None] = time.sleep,
                   clock: Callable[[], float] = time.monotonic, aws_conn_id: str | None = None) -> SetupResult:
    """Create what is missing for one pipeline (nothing in a dry run) and say what to put in its YAML."""
    setup = plan(config)
    client = client if client is not None else sagemaker_client(config, aws_conn_id)
    ui_arn, ui_created = ensure_task_ui(client, setup, dry_run=dry_run)
    fd_arn, fd_created, status = ensure_flow_definition(
        client, setup, ui_arn, dry_run=dry_run, wait_seconds=wait_seconds, poll_seconds=poll_seconds,
        sleep=sleep, clock=clock)
    return SetupResult(
        pipeline=config.pipeline, source_file=config.source_file, task_ui_name=setup.task_ui.name,
        task_ui_arn=ui_arn, task_ui_created=ui_created, flow_definition_name=setup.flow_definition.name,
        flow_definition_arn=fd_arn, flow_definition_created=fd_created, flow_definition_status=status,
        yaml_arn=config.review.flow_definition.arn, arn_variable=arn_variable(config), dry_run=dry_run,
        notes=list(setup.notes))


__all__ = ["PlanError", "SetupError", "SetupResult", "apply_pipeline", "ensure_flow_definition", "ensure_task_ui",
           "sagemaker_client", "wait_until_active"]
