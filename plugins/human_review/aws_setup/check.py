"""Is an AWS account ready for a pipeline? Every finding says what is wrong and how to fix it.

Checks, with the pipeline's Airflow connection (so they see what the DAG will see):
- S3: HeadBucket and a one-page ListObjectsV2 of the source prefix, the work and report prefixes
  and the A2I output path (HeadBucket alone may be denied under the least-privilege policy, whose
  s3:ListBucket is limited to prefixes; the listing decides);
- the source bucket's CORS allows GET from the worker UI (A2I shows no image without it);
- the flow definition in the YAML exists, is Active, and matches the YAML: TaskCount, worker task
  UI (the template as it is now), output path, title, description, lifetimes, keywords, workteam
  and role when the YAML names them, and the Rekognition request source for aws-managed loops;
- the template renders with SageMaker's RenderUiTemplate, with a task input like the one the
  route stage sends (a real image of the source prefix when one is listed), without errors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from human_review.aws_setup.apply import differences, error_code, is_not_found
from human_review.aws_setup.plan import (
    REKOGNITION_SOURCE, arn_parts, flow_definition_name, human_loop_config, is_aws_managed, plan_task_ui)
from human_review.aws_setup.policy import CORS_RULES, s3_location
from human_review.config import PipelineConfig
from human_review.partitions import static_part

DENIED = frozenset({"AccessDenied", "AccessDeniedException", "403", "Forbidden"})
MISSING_BUCKET = frozenset({"NoSuchBucket", "404", "NotFound"})


@dataclass(frozen=True)
class Finding:
    ok: bool
    subject: str
    message: str
    fix: str = ""

    def line(self) -> str:
        text = f"{'ok    ' if self.ok else 'FIX   '} {self.subject}: {self.message}"
        return text + (f"\n       -> {self.fix}" if self.fix else "")


def _message(e: ClientError) -> str:
    err = e.response.get("Error", {})
    return f"{err.get('Code', '?')}: {err.get('Message') or 'no message'}"


def s3_client(config: PipelineConfig, aws_conn_id: str | None = None) -> Any:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    conn_id = config.aws_conn_id if aws_conn_id is None else (aws_conn_id or None)
    return S3Hook(aws_conn_id=conn_id).get_conn()


def check_location(s3: Any, what: str, uri: str) -> tuple[list[Finding], list[str]]:
    """HeadBucket + one page of the prefix; returns findings and the keys listed."""
    loc = s3_location(uri)
    if loc is None:
        return [Finding(True, what, f"{uri} is not on S3: nothing to check")], []
    bucket, prefix = loc
    findings: list[Finding] = []
    head_denied = False
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as e:
        if error_code(e) in MISSING_BUCKET:
            return [Finding(False, what, f"bucket {bucket} does not exist (or not in this account/region)",
                            f"create it, or fix the bucket in the YAML ({uri})")], []
        if error_code(e) not in DENIED:
            raise
        head_denied = True
    try:
        page = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=50)
    except ClientError as e:
        if error_code(e) in MISSING_BUCKET:
            return [Finding(False, what, f"bucket {bucket} does not exist", f"create it or fix {uri} in the YAML")], []
        return [Finding(False, what, f"cannot list s3://{bucket}/{prefix} ({_message(e)})",
                        f"allow s3:ListBucket on arn:aws:s3:::{bucket} for prefix '{prefix}*' "
                        "(human-review aws-policy PIPELINE prints the policy)")], []
    keys = [o["Key"] for o in page.get("Contents", [])]
    note = " (HeadBucket denied, fine under the prefix-scoped policy)" if head_denied else ""
    findings.append(Finding(True, what, f"s3://{bucket}/{prefix} can be listed ({len(keys)}"
                                        f"{'+' if page.get('IsTruncated') else ''} objects seen){note}"))
    return findings, keys


def check_cors(s3: Any, bucket: str) -> Finding:
    subject = f"CORS on s3://{bucket}"
    fix = (f"aws s3api put-bucket-cors --bucket {bucket} --cors-configuration "
           f"'{json.dumps({'CORSRules': CORS_RULES})}'")
    try:
        rules = s3.get_bucket_cors(Bucket=bucket).get("CORSRules", [])
    except ClientError as e:
        if error_code(e) == "NoSuchCORSConfiguration":
            return Finding(False, subject, "none: reviewers would see no image in A2I's worker UI", fix)
        if error_code(e) in DENIED:
            return Finding(False, subject, f"cannot be read ({_message(e)})",
                           "allow s3:GetBucketCORS on the bucket for this check, or verify by hand that a rule allows "
                           f"GET from any origin; if not: {fix}")
        raise
    for rule in rules:
        if "GET" in rule.get("AllowedMethods", []) and rule.get("AllowedOrigins"):
            origins = ", ".join(rule["AllowedOrigins"])
            return Finding(True, subject, f"GET allowed from {origins}")
    return Finding(False, subject, "no rule allows GET: reviewers would see no image in A2I's worker UI", fix)


def sample_task_input(config: PipelineConfig, key: str | None) -> dict[str, Any]:
    """A task input shaped like the route stage's (or Rekognition's, for aws-managed loops)."""
    from human_review.inference.base import backend_class

    backend = backend_class(config.model.backend)
    key = key or f"{static_part(config.source.prefix)}sample.jpg"
    if backend.kind == "moderation":
        prediction: dict[str, Any] = {"ModerationLabels": [{"Name": "Suggestive", "ParentName": "", "Confidence": 91.5}]}
    else:
        prediction = {"Image": {"Width": 640, "Height": 480},
                      "Detections": [{"Name": "face", "Confidence": 62.0,
                                      "BoundingBox": {"Left": 100, "Top": 80, "Width": 120, "Height": 150}}]}
    try:
        extra = backend.task_input(prediction, config.model.thresholds)
        summary = backend.summary(prediction)
    except Exception:  # noqa: BLE001 - a sample only; the render check says what the template lacks
        extra, summary = {}, ""
    task = {"taskObject": f"s3://{config.source.bucket}/{key}", "objectKey": key, "pipeline": config.pipeline,
            "flaggedBy": ["aws-check sample"], "modelSummary": summary, "prediction": prediction, **extra}
    if is_aws_managed(config):  # what A2I hands a Rekognition flow definition's template
        labels = [{"name": "Suggestive", "parentName": "", "confidence": 91.5}]
        task.update({
            "aiServiceRequest": {"image": {"s3Object": {"bucket": config.source.bucket, "name": key}},
                                 "minConfidence": config.model.options.get("min_confidence", 50)},
            "aiServiceResponse": {"moderationLabels": labels, "moderationModelVersion": "7.0"},
            "selectedAiServiceResponse": {"moderationLabels": labels, "moderationModelVersion": "7.0"},
            "humanTaskActivationConditionResults": {"Conditions": []},
        })
    return task


def check_flow_definition(sagemaker: Any, config: PipelineConfig) -> tuple[list[Finding], dict[str, Any] | None]:
    flow = config.review.flow_definition
    subject = "flow definition"
    if not flow.arn:
        return [Finding(False, subject, "review.flow_definition.arn is not set",
                        f"run `human-review aws-setup {config.pipeline}` and put the ARN it prints in the YAML")], None
    region = arn_parts(flow.arn)["region"]
    if region != flow.region:
        return [Finding(False, subject, f"the ARN is in {region} but review.flow_definition.region is {flow.region}",
                        "set review.flow_definition.region to the flow definition's region")], None
    name = flow_definition_name(flow.arn) or ""
    subject = f"flow definition {name}"
    try:
        described = sagemaker.describe_flow_definition(FlowDefinitionName=name)
    except ClientError as e:
        if is_not_found(e):
            return [Finding(False, subject, "does not exist in this account and region",
                            f"run `human-review aws-setup {config.pipeline}` and put the ARN it prints in the YAML")], None
        return [Finding(False, subject, f"cannot be described ({_message(e)})",
                        "allow sagemaker:DescribeFlowDefinition (human-review aws-policy: setup_policy)")], None
    findings = []
    status = described["FlowDefinitionStatus"]
    if status != "Active":
        reason = f": {described['FailureReason']}" if described.get("FailureReason") else ""
        findings.append(Finding(False, subject, f"is {status}{reason}",
                                "wait for Initializing to end; a Failed one: fix the cause, delete it and run aws-setup"))
    else:
        findings.append(Finding(True, subject, "exists and is Active"))
    loop = described.get("HumanLoopConfig") or {}
    desired = {"HumanLoopConfig": {**human_loop_config(config),
                                   "WorkteamArn": flow.workteam_arn or loop.get("WorkteamArn"),
                                   "HumanTaskUiArn": loop.get("HumanTaskUiArn")},
               "OutputConfig": {"S3OutputPath": flow.output_path},
               "RoleArn": flow.role_arn or described.get("RoleArn")}
    if "PublicWorkforceTaskPrice" in loop:
        desired["HumanLoopConfig"]["PublicWorkforceTaskPrice"] = loop["PublicWorkforceTaskPrice"]
    if is_aws_managed(config):
        desired["HumanLoopRequestSource"] = {"AwsManagedHumanLoopRequestSource": REKOGNITION_SOURCE}
        desired["HumanLoopActivationConfig"] = {"HumanLoopActivationConditionsConfig": {
            "HumanLoopActivationConditions": json.dumps(config.review.conditions)}}
    elif described.get("HumanLoopActivationConfig"):
        desired["HumanLoopActivationConfig"] = described["HumanLoopActivationConfig"]  # not ours to judge
    diffs = differences(desired, described)
    if diffs:
        findings.append(Finding(False, subject, "differs from the YAML: " + "; ".join(diffs),
                                f"run `human-review aws-setup {config.pipeline}` (it makes a new version) "
                                "and put the new ARN in the YAML"))
    else:
        findings.append(Finding(True, subject, f"matches the YAML (TaskCount {loop.get('TaskCount')}, "
                                               f"output {described['OutputConfig']['S3OutputPath']})"))
    findings.append(_check_task_ui(sagemaker, config, loop.get("HumanTaskUiArn", "")))
    return findings, described


def _check_task_ui(sagemaker: Any, config: PipelineConfig, ui_arn: str) -> Finding:
    ui = plan_task_ui(config)
    used = ui_arn.rsplit("/", 1)[-1]
    subject = "worker task UI"
    if used == ui.name:
        return Finding(True, subject, f"{used} holds {config.review.flow_definition.template} as it is now")
    fix = (f"the template changed since the flow definition was made: run `human-review aws-setup {config.pipeline}` "
           "and put the new ARN in the YAML")
    try:
        described = sagemaker.describe_human_task_ui(HumanTaskUiName=used)
    except ClientError as e:
        return Finding(False, subject, f"{used} cannot be described ({_message(e)})", fix)
    sha = ((described.get("UiTemplate") or {}).get("ContentSha256") or "").lower()
    if sha == ui.sha256:
        return Finding(True, subject, f"{used} holds {config.review.flow_definition.template} as it is now")
    return Finding(False, subject, f"{used} is not {config.review.flow_definition.template} as it is now", fix)


def check_render(sagemaker: Any, config: PipelineConfig, role_arn: str | None, key: str | None) -> Finding:
    flow = config.review.flow_definition
    subject = f"template {flow.template}"
    if not role_arn:
        return Finding(False, subject, "cannot be rendered: no role (RenderUiTemplate needs one)",
                       "set review.flow_definition.role_arn")
    task = sample_task_input(config, key)
    try:
        answer = sagemaker.render_ui_template(UiTemplate={"Content": plan_task_ui(config).content},
                                              Task={"Input": json.dumps(task)}, RoleArn=role_arn)
    except ClientError as e:
        return Finding(False, subject, f"RenderUiTemplate refused it ({_message(e)})",
                       "allow sagemaker:RenderUiTemplate and iam:PassRole on the role (aws-policy: setup_policy)")
    errors = answer.get("Errors") or []
    if errors:
        return Finding(False, subject, "renders with errors: " + "; ".join(f"{e['Code']}: {e['Message']}" for e in errors),
                       f"fix include/templates/{flow.template}; try it offline with "
                       f"`human-review render-template include/templates/{flow.template} --input task.json`")
    return Finding(True, subject, f"renders with RenderUiTemplate ({len(answer.get('RenderedContent', '')):,} characters)")


def check_pipeline(config: PipelineConfig, sagemaker: Any = None, s3: Any = None,
                   aws_conn_id: str | None = None) -> list[Finding]:
    """Every check for one pipeline, in order; `ok` False on any finding means the account is not ready."""
    from human_review.aws_setup.apply import sagemaker_client

    sagemaker = sagemaker if sagemaker is not None else sagemaker_client(config, aws_conn_id)
    s3 = s3 if s3 is not None else s3_client(config, aws_conn_id)
    source_uri = f"s3://{config.source.bucket}/{static_part(config.source.prefix)}"
    findings, keys = check_location(s3, "source", source_uri)
    for what, uri in (("work prefix", f"{config.work_prefix}/{config.pipeline}/"),
                      ("report prefix", f"{config.report.prefix}/{config.pipeline}/"),
                      # A2I writes under <output path>/<flow definition name>[-<digest>]/
                      ("A2I output path", f"{config.review.flow_definition.output_path}/{config.review.flow_definition.name}")):
        findings += check_location(s3, what, uri)[0]
    if findings[0].ok:
        findings.append(check_cors(s3, config.source.bucket))
    flow_findings, described = check_flow_definition(sagemaker, config)
    findings += flow_findings
    image = next((k for k in keys if k.lower().endswith(config.source.extensions)), None)
    role = config.review.flow_definition.role_arn or (described or {}).get("RoleArn")
    findings.append(check_render(sagemaker, config, role, image))
    return findings
