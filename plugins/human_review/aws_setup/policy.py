"""Least-privilege IAM policies for one pipeline, and the S3 CORS rules A2I's worker UI needs.

Three principals, three documents:

- `airflow_role_policy`: the role behind the pipeline's Airflow AWS connection, what every task
  (discover, infer, route, wait, report, export) calls. S3 list/read on the source prefix,
  read/write on `<work_prefix>/<pipeline>/` and `<report prefix>/<pipeline>/`, read on the A2I
  output of this flow definition; StartHumanLoop on the flow definition, DescribeHumanLoop /
  StopHumanLoop on this pipeline's loops (their names start with the pipeline, see naming.py),
  ListHumanLoops (which has no resource-level permission); and the model backend's own actions.
  No iam:PassRole: nothing at run time hands a role to AWS.
- `a2i_execution_role`: the role the flow definition names (RoleArn), assumed by SageMaker: read
  the source images (the worker UI's `grant_read_access`), write output.json under the output path.
- `setup_policy`: what `aws-setup` and `aws-check` need on top (Create/Describe of this pipeline's
  worker task UI and flow definition, tagging them, RenderUiTemplate, GetBucketCORS) and the one
  iam:PassRole of the project: the execution role, passed to SageMaker only.

Resource-level permissions follow the service authorization reference for SageMaker
(StartHumanLoop: flow-definition; Describe/StopHumanLoop: human-loop; ListHumanLoops and
RenderUiTemplate: none, so "*").
"""

from __future__ import annotations

from typing import Any

from human_review.aws_setup.plan import arn_parts, is_aws_managed, plan_task_ui
from human_review.config import PipelineConfig
from human_review.partitions import static_part

VERSION = "2012-10-17"
# A2I's worker UI loads the images cross-origin; AWS documents exactly this rule for A2I and Ground Truth.
CORS_RULES = [{"AllowedHeaders": [], "AllowedMethods": ["GET"], "AllowedOrigins": ["*"], "ExposeHeaders": []}]


def s3_location(uri: str) -> tuple[str, str] | None:
    """(bucket, key prefix) of an s3:// URI; None for file:// and others (no IAM needed)."""
    if not uri.startswith("s3://"):
        return None
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


class _Scope:
    """Partition, region and account for ARNs: from the YAML's ARNs, else the arguments, else '*'."""

    def __init__(self, config: PipelineConfig, account: str | None, partition: str | None) -> None:
        flow = config.review.flow_definition
        known = [arn_parts(a) for a in (flow.arn, flow.workteam_arn, flow.role_arn) if a]
        self.partition = partition or next((k["partition"] for k in known), "aws")
        self.account = account or next((k["account"] for k in known if k["account"]), "*")
        self.region = arn_parts(flow.arn)["region"] if flow.arn else flow.region
        self.model_region = config.model.region or self.region

    def sagemaker(self, resource: str, region: str | None = None) -> str:
        return f"arn:{self.partition}:sagemaker:{region or self.region}:{self.account}:{resource}"

    def s3(self, bucket: str, key: str | None = None) -> str:
        return f"arn:{self.partition}:s3:::{bucket}" + (f"/{key}" if key is not None else "")


def _flow_definition_arns(config: PipelineConfig, scope: _Scope) -> list[str]:
    """The YAML's flow definition, and every version aws-setup makes of it (`<name>-<digest>`)."""
    flow = config.review.flow_definition
    arns = [flow.arn] if flow.arn else []
    arns += [scope.sagemaker(f"flow-definition/{flow.name}"), scope.sagemaker(f"flow-definition/{flow.name}-*")]
    return list(dict.fromkeys(arns))


def _loop_arn(config: PipelineConfig, scope: _Scope) -> str:
    # naming.loop_prefix: every loop of this pipeline is named `<pipeline[:24]>-<digest>-<digest>`
    return scope.sagemaker(f"human-loop/{config.pipeline[:24].rstrip('-')}-*")


def _list_statements(prefixes: dict[str, list[str]], scope: _Scope) -> list[dict[str, Any]]:
    out = []
    for i, (bucket, keys) in enumerate(sorted(prefixes.items())):
        statement: dict[str, Any] = {"Sid": f"ListPrefixes{i}", "Effect": "Allow", "Action": ["s3:ListBucket"],
                                     "Resource": [scope.s3(bucket)]}
        if "" not in keys:
            statement["Condition"] = {"StringLike": {"s3:prefix": sorted(set(keys))}}
        out.append(statement)
    return out


def _prefix_patterns(key: str) -> list[str]:
    """s3:prefix values for a listing under `key` (with and without the trailing slash)."""
    key = key.strip("/")
    return [""] if not key else [key, f"{key}/*"]


def _backend_statements(config: PipelineConfig, scope: _Scope) -> tuple[list[dict[str, Any]], list[str]]:
    backend, options = config.model.backend, config.model.options
    notes: list[str] = []
    if backend == "rekognition-moderation":
        notes.append("rekognition:DetectModerationLabels has no resource-level permission (Resource \"*\")")
        if options.get("image", "s3") == "s3":
            notes.append("Rekognition reads the images with this role's s3:GetObject on the source prefix; "
                         "the bucket must be in Rekognition's region")
        return [{"Sid": "RekognitionModeration", "Effect": "Allow", "Action": ["rekognition:DetectModerationLabels"],
                 "Resource": ["*"]}], notes
    if backend == "sagemaker-endpoint":
        name = str(options["endpoint_name"]).lower()  # SageMaker ARNs carry names in lower case
        return [{"Sid": "InvokeModelEndpoint", "Effect": "Allow", "Action": ["sagemaker:InvokeEndpoint"],
                 "Resource": [scope.sagemaker(f"endpoint/{name}", scope.model_region)]}], notes
    if backend == "sagemaker-batch-transform":
        jobs = scope.sagemaker(f"transform-job/{config.pipeline[:30].rstrip('-')}-*", scope.model_region)
        notes.append("the SageMaker model's own execution role reads the input manifest and images and writes the "
                     f"transform output: it needs s3:GetObject on the source prefix and s3:GetObject/s3:PutObject "
                     f"on {config.work_prefix}/{config.pipeline}/ (no iam:PassRole here: CreateTransformJob passes "
                     "no role)")
        return [
            {"Sid": "BatchTransformJobs", "Effect": "Allow",
             "Action": ["sagemaker:CreateTransformJob", "sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob"],
             "Resource": [jobs]},
            {"Sid": "BatchTransformModel", "Effect": "Allow", "Action": ["sagemaker:DescribeModel"],
             "Resource": [scope.sagemaker(f"model/{str(options['model_name']).lower()}", scope.model_region)]},
        ], notes
    return [], notes  # local models: no AWS call


def airflow_role_policy(config: PipelineConfig, account: str | None = None,
                        partition: str | None = None) -> tuple[dict[str, Any], list[str]]:
    scope = _Scope(config, account, partition)
    flow = config.review.flow_definition
    source_bucket, source_prefix = config.source.bucket, static_part(config.source.prefix)
    listing: dict[str, list[str]] = {source_bucket: [f"{source_prefix}*" if source_prefix else ""]}
    readwrite: list[str] = []
    for uri in (config.work_prefix, config.report.prefix):
        loc = s3_location(uri)
        if loc:
            key = _join(loc[1], config.pipeline)
            listing.setdefault(loc[0], []).extend(_prefix_patterns(key))
            readwrite.append(scope.s3(loc[0], f"{key}/*"))
    output = s3_location(flow.output_path)
    output_objects = []
    if output:
        key = _join(output[1], flow.name)
        listing.setdefault(output[0], []).extend([key, f"{key}*"])
        output_objects.append(scope.s3(output[0], f"{key}*"))
    statements = _list_statements(listing, scope)
    statements.append({"Sid": "ReadSourceImages", "Effect": "Allow", "Action": ["s3:GetObject"],
                       "Resource": [scope.s3(source_bucket, f"{source_prefix}*")]})
    if readwrite:
        statements.append({"Sid": "ReadWriteWorkAndReports", "Effect": "Allow",
                           "Action": ["s3:GetObject", "s3:PutObject"], "Resource": readwrite})
    if output_objects:
        statements.append({"Sid": "ReadA2IOutput", "Effect": "Allow", "Action": ["s3:GetObject"],
                           "Resource": output_objects})
    statements += [
        {"Sid": "StartHumanLoops", "Effect": "Allow", "Action": ["sagemaker:StartHumanLoop"],
         "Resource": _flow_definition_arns(config, scope)},
        {"Sid": "ManageHumanLoops", "Effect": "Allow",
         "Action": ["sagemaker:DescribeHumanLoop", "sagemaker:StopHumanLoop"], "Resource": [_loop_arn(config, scope)]},
        {"Sid": "ListHumanLoops", "Effect": "Allow", "Action": ["sagemaker:ListHumanLoops"], "Resource": ["*"]},
    ]
    backend, notes = _backend_statements(config, scope)
    statements += backend
    if is_aws_managed(config):
        notes.append("human_loop: aws-managed: Rekognition starts the loops with the caller's "
                     "sagemaker:StartHumanLoop on the flow definition (granted above)")
    notes.append(f"trigger-form overrides (another prefix, explicit keys) outside s3://{source_bucket}/{source_prefix} "
                 "are denied by this policy")
    return {"Version": VERSION, "Statement": statements}, notes


def execution_role(config: PipelineConfig, account: str | None = None,
                   partition: str | None = None) -> dict[str, Any]:
    """The flow definition's RoleArn: trust SageMaker, read the images, write output.json."""
    scope = _Scope(config, account, partition)
    flow = config.review.flow_definition
    statements = [{"Sid": "ReadSourceImages", "Effect": "Allow", "Action": ["s3:GetObject"],
                   "Resource": [scope.s3(config.source.bucket, f"{config.source.prefix}*")]}]
    output = s3_location(flow.output_path)
    if output:
        statements.append({"Sid": "WriteA2IOutput", "Effect": "Allow", "Action": ["s3:PutObject"],
                           "Resource": [scope.s3(output[0], f"{_join(output[1], flow.name)}*")]})
    return {
        "role_arn": flow.role_arn,
        "trust_policy": {"Version": VERSION, "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
        "policy": {"Version": VERSION, "Statement": statements},
    }


def setup_policy(config: PipelineConfig, account: str | None = None,
                 partition: str | None = None) -> tuple[dict[str, Any], list[str]]:
    """What aws-setup and aws-check call beyond the Airflow role's policy."""
    scope = _Scope(config, account, partition)
    flow = config.review.flow_definition
    ui_base = plan_task_ui(config).name.rsplit("-", 1)[0]
    notes = []
    role = flow.role_arn
    if not role:
        role = f"arn:{scope.partition}:iam::{scope.account}:role/human-review-a2i-*"
        notes.append("review.flow_definition.role_arn is not set: iam:PassRole assumes a role named "
                     "human-review-a2i-*; set role_arn to name it exactly")
    statements = [
        {"Sid": "WorkerTaskUi", "Effect": "Allow",
         "Action": ["sagemaker:DescribeHumanTaskUi", "sagemaker:CreateHumanTaskUi", "sagemaker:AddTags"],
         "Resource": [scope.sagemaker(f"human-task-ui/{ui_base}-*")]},
        {"Sid": "FlowDefinition", "Effect": "Allow",
         "Action": ["sagemaker:DescribeFlowDefinition", "sagemaker:CreateFlowDefinition", "sagemaker:AddTags"],
         "Resource": _flow_definition_arns(config, scope)},
        {"Sid": "RenderTemplate", "Effect": "Allow", "Action": ["sagemaker:RenderUiTemplate"], "Resource": ["*"]},
        {"Sid": "PassExecutionRoleToA2I", "Effect": "Allow", "Action": ["iam:PassRole"], "Resource": [role],
         "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}},
        {"Sid": "CheckSourceCors", "Effect": "Allow", "Action": ["s3:GetBucketCORS"],
         "Resource": [scope.s3(config.source.bucket)]},
    ]
    return {"Version": VERSION, "Statement": statements}, notes


def cors(config: PipelineConfig) -> dict[str, Any]:
    return {"bucket": config.source.bucket, "CORSRules": CORS_RULES,
            "apply_with": f"aws s3api put-bucket-cors --bucket {config.source.bucket} --cors-configuration "
                          "'{\"CORSRules\": [{\"AllowedHeaders\": [], \"AllowedMethods\": [\"GET\"], "
                          "\"AllowedOrigins\": [\"*\"], \"ExposeHeaders\": []}]}'  "
                          "(replaces the bucket's CORS configuration: merge by hand if it has one)"}


def pipeline_policies(config: PipelineConfig, account: str | None = None, partition: str | None = None) -> dict[str, Any]:
    """Everything `human-review aws-policy PIPELINE` prints."""
    airflow, notes = airflow_role_policy(config, account, partition)
    setup, setup_notes = setup_policy(config, account, partition)
    return {
        "pipeline": config.pipeline,
        "airflow_role_policy": airflow,
        "a2i_execution_role": execution_role(config, account, partition),
        "setup_policy": setup,
        "s3_cors": cors(config),
        "notes": notes + setup_notes,
    }


def actions_and_resources(policy: dict[str, Any]) -> dict[str, set[str]]:
    """action -> every resource a policy allows it on (handy for tests and reviews)."""
    out: dict[str, set[str]] = {}
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement.get("Resource", [])
        resources = resources if isinstance(resources, list) else [resources]
        for action in actions:
            out.setdefault(action, set()).update(resources)
    return out
