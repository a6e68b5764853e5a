"""The A2I resources a pipeline YAML asks for, computed without calling AWS.

HumanTaskUis and FlowDefinitions cannot be updated in place. So each name carries the first 8 hex
digits of a SHA-256 over what the resource holds:

- worker task UI: `<template stem>-<sha256(template content)[:8]>`, e.g. `moderation-1a2b3c4d`;
  pipelines that share a template share its UI;
- flow definition: `<flow_definition.name>-<sha256(settings)[:8]>`, where the settings are
  everything CreateFlowDefinition is given except its name and tags (the UI enters by its
  versioned name, so a changed template also gives a new flow definition).

Re-running aws-setup on an unchanged YAML therefore finds what it created before and creates
nothing; after a change it creates the new versions and prints the new ARN for the YAML. Old
versions stay until someone deletes them (loops still running on them keep working).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from human_review.config import FLOW_DEFINITION_ARN, PROJECT_ROOT, PipelineConfig

REKOGNITION_SOURCE = "AWS/Rekognition/DetectModerationLabels/Image/V3"
# Condition types A2I evaluates itself for a Rekognition flow definition.
REKOGNITION_CONDITION_TYPES = frozenset({"ModerationLabelConfidenceCheck", "Sampling"})
MAX_CONDITIONS_CHARS = 10_240
MAX_TEMPLATE_CHARS = 128_000
PUBLIC_WORKTEAM = re.compile(r":workteam/public-crowd/")
_KEYWORD = re.compile(r"[^A-Za-z0-9]+")
_NAME = re.compile(r"[^a-z0-9]+")
DIGEST_CHARS = 8
NAME_MAX = 63


class PlanError(ValueError):
    """The YAML lacks something AWS needs; the message names the setting and how to fix it."""


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def versioned_name(base: str, content_digest: str) -> str:
    """`<base>-<8 hex>`, within SageMaker's 63 characters and name pattern."""
    base = _NAME.sub("-", base.lower()).strip("-") or "human-review"
    base = base[: NAME_MAX - DIGEST_CHARS - 1].rstrip("-")
    return f"{base}-{content_digest[:DIGEST_CHARS]}"


def is_aws_managed(config: PipelineConfig) -> bool:
    """Rekognition starts the loops itself (HumanLoopConfig on DetectModerationLabels)."""
    return config.model.backend == "rekognition-moderation" and config.model.options.get("human_loop") == "aws-managed"


def task_keywords(keywords: tuple[str, ...]) -> list[str]:
    """The YAML's keywords as A2I accepts them: letters and digits separated by single spaces, <= 30."""
    out: list[str] = []
    for keyword in keywords:
        clean = _KEYWORD.sub(" ", keyword).strip()[:30].strip()
        if clean and clean not in out:
            out.append(clean)
    return out


def _check_rekognition_conditions(node: Any, path: str = "$") -> None:
    if isinstance(node, dict):
        kind = node.get("ConditionType")
        if kind is not None and kind not in REKOGNITION_CONDITION_TYPES:
            raise PlanError(
                f"review.conditions {path}: {kind} is not evaluated by A2I for Rekognition (only "
                f"{', '.join(sorted(REKOGNITION_CONDITION_TYPES))}); use human_loop: custom to let the pipeline evaluate it"
            )
        for key, value in node.items():
            _check_rekognition_conditions(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _check_rekognition_conditions(value, f"{path}[{i}]")


def _task_price(config: PipelineConfig) -> dict[str, Any]:
    usd = config.report.public_workforce_task_price_usd
    if usd is None:
        raise PlanError("a public workforce needs a price: set report.public_workforce_task_price_usd "
                        "(one of A2I's price points, e.g. 0.036)")
    tenths = round(usd * 1000)
    return {"AmountInUsd": {"Dollars": tenths // 1000, "Cents": (tenths % 1000) // 10,
                            "TenthFractionsOfACent": tenths % 10}}


@dataclass(frozen=True)
class TaskUiPlan:
    """The worker task UI made from include/templates/<template>."""

    name: str
    template: str
    content: str
    sha256: str

    def create_request(self) -> dict[str, Any]:
        return {"HumanTaskUiName": self.name, "UiTemplate": {"Content": self.content},
                "Tags": [{"Key": "human-review:template", "Value": self.template[:256]},
                         {"Key": "human-review:managed-by", "Value": "human-review aws-setup"}]}


@dataclass(frozen=True)
class FlowDefinitionPlan:
    """CreateFlowDefinition's request, with the UI by name until its ARN is known."""

    name: str
    base_name: str
    settings: dict[str, Any]  # the request minus FlowDefinitionName, Tags and the UI's ARN
    pipeline: str

    def create_request(self, task_ui_arn: str) -> dict[str, Any]:
        request = json.loads(json.dumps(self.settings))
        request["HumanLoopConfig"]["HumanTaskUiArn"] = task_ui_arn
        request["FlowDefinitionName"] = self.name
        request["Tags"] = [{"Key": "human-review:pipeline", "Value": self.pipeline},
                           {"Key": "human-review:managed-by", "Value": "human-review aws-setup"}]
        return request


@dataclass(frozen=True)
class SetupPlan:
    config: PipelineConfig
    task_ui: TaskUiPlan
    flow_definition: FlowDefinitionPlan
    notes: tuple[str, ...] = field(default_factory=tuple)


def plan_task_ui(config: PipelineConfig) -> TaskUiPlan:
    flow = config.review.flow_definition
    content = flow.template_path.read_text(encoding="utf-8")
    if len(content) > MAX_TEMPLATE_CHARS:
        raise PlanError(f"review.flow_definition.template: {flow.template} has {len(content):,} characters; "
                        f"CreateHumanTaskUi takes at most {MAX_TEMPLATE_CHARS:,}")
    sha = digest(content)
    stem = flow.template.split(".", 1)[0]
    return TaskUiPlan(name=versioned_name(stem, sha), template=flow.template, content=content, sha256=sha)


def human_loop_config(config: PipelineConfig) -> dict[str, Any]:
    """HumanLoopConfig from the YAML, without WorkteamArn and HumanTaskUiArn (what aws-check compares)."""
    flow = config.review.flow_definition
    loop: dict[str, Any] = {
        "TaskTitle": flow.title,
        "TaskDescription": flow.description,
        "TaskCount": flow.task_count,
        "TaskAvailabilityLifetimeInSeconds": flow.availability_lifetime_seconds,
        "TaskTimeLimitInSeconds": flow.time_limit_seconds,
    }
    keywords = task_keywords(flow.keywords)
    if keywords:
        loop["TaskKeywords"] = keywords
    return loop


def plan(config: PipelineConfig) -> SetupPlan:
    """What aws-setup will make sure exists for this pipeline; PlanError names what the YAML lacks."""
    flow = config.review.flow_definition
    missing = [f"review.flow_definition.{name}" for name, value in
               (("workteam_arn", flow.workteam_arn), ("role_arn", flow.role_arn)) if not value]
    if missing:
        raise PlanError(
            f"{config.source_file or config.pipeline}: {' and '.join(missing)} not set "
            "(the private workteam that reviews, and the IAM role A2I assumes to read the images and write "
            "output.json; `human-review aws-policy` prints that role's policy)"
        )
    ui = plan_task_ui(config)
    loop = {"WorkteamArn": flow.workteam_arn, "HumanTaskUiArn": None, **human_loop_config(config)}
    notes: list[str] = []
    if PUBLIC_WORKTEAM.search(flow.workteam_arn or ""):
        loop["PublicWorkforceTaskPrice"] = _task_price(config)
    if list(flow.keywords) != loop.get("TaskKeywords", []) and flow.keywords:
        notes.append(f"keywords {list(flow.keywords)} sent as {loop.get('TaskKeywords', [])} "
                     "(A2I takes letters and digits separated by spaces)")
    settings: dict[str, Any] = {
        "HumanLoopConfig": loop,
        "OutputConfig": {"S3OutputPath": flow.output_path},
        "RoleArn": flow.role_arn,
    }
    if is_aws_managed(config):
        _check_rekognition_conditions(config.review.conditions)
        conditions = json.dumps(config.review.conditions, sort_keys=True, separators=(",", ":"))
        if len(conditions) > MAX_CONDITIONS_CHARS:
            raise PlanError(f"review.conditions: {len(conditions):,} characters as JSON; A2I takes at most "
                            f"{MAX_CONDITIONS_CHARS:,}")
        settings["HumanLoopRequestSource"] = {"AwsManagedHumanLoopRequestSource": REKOGNITION_SOURCE}
        settings["HumanLoopActivationConfig"] = {
            "HumanLoopActivationConditionsConfig": {"HumanLoopActivationConditions": conditions}}
    # The digest covers the settings with the UI by its (content-addressed) name: no account needed.
    hashed = json.loads(json.dumps(settings))
    hashed["HumanLoopConfig"]["HumanTaskUiArn"] = ui.name
    name = versioned_name(flow.name, digest(json.dumps(hashed, sort_keys=True, separators=(",", ":"))))
    return SetupPlan(config=config,
                     task_ui=ui,
                     flow_definition=FlowDefinitionPlan(name=name, base_name=flow.name, settings=settings,
                                                        pipeline=config.pipeline),
                     notes=tuple(notes))


def arn_parts(arn: str) -> dict[str, str]:
    """partition, region, account, resource of an ARN (IAM ARNs have no region)."""
    parts = arn.split(":", 5)
    return {"partition": parts[1], "service": parts[2], "region": parts[3], "account": parts[4],
            "resource": parts[5] if len(parts) > 5 else ""}


def flow_definition_name(arn: str) -> str | None:
    m = FLOW_DEFINITION_ARN.match(arn)
    return m.group(1) if m else None


def arn_variable(config: PipelineConfig) -> str | None:
    """The environment variable the YAML's `review.flow_definition.arn` reads (`${VAR:-}`), if any."""
    if not config.source_file:
        return None
    path = Path(config.source_file)
    path = path if path.is_absolute() else PROJECT_ROOT / path
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        value = raw["review"]["flow_definition"].get("arn")
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return None
    m = re.fullmatch(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}", str(value or "").strip())
    return m.group(1) if m else None
