"""`human-review aws-policy`: least-privilege IAM and CORS for every shipped pipeline and example.

Asserts actions and resources (which action is allowed on what), not a snapshot of the JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIPELINE_FILES = sorted((ROOT / "include" / "pipelines").glob("*.yaml")) + sorted(
    (ROOT / "include" / "examples").glob("*.yaml"))
ACCOUNT = "123456789012"
LOOP_ACTIONS = {"sagemaker:StartHumanLoop", "sagemaker:DescribeHumanLoop", "sagemaker:ListHumanLoops",
                "sagemaker:StopHumanLoop"}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in ("HUMAN_REVIEW_BUCKET", "HUMAN_REVIEW_WORKTEAM_ARN", "HUMAN_REVIEW_A2I_ROLE_ARN",
                "HUMAN_REVIEW_MODERATION_FLOW_ARN", "HUMAN_REVIEW_DETECTION_FLOW_ARN"):
        monkeypatch.delenv(var, raising=False)


def load(path: Path):
    from human_review.config import load_pipeline

    return load_pipeline(path)


def allowed(policy):
    from human_review.aws_setup.policy import actions_and_resources

    return actions_and_resources(policy)


@pytest.mark.parametrize("path", PIPELINE_FILES, ids=lambda p: p.stem)
def test_airflow_role_policy_is_scoped_to_the_pipeline(path):
    from human_review.aws_setup.policy import pipeline_policies

    config = load(path)
    doc = pipeline_policies(config, account=ACCOUNT)
    json.dumps(doc)  # printable as JSON
    policy = doc["airflow_role_policy"]
    assert len({s["Sid"] for s in policy["Statement"]}) == len(policy["Statement"])
    acts = allowed(policy)
    bucket, pipeline, flow = config.source.bucket, config.pipeline, config.review.flow_definition
    # no wildcard actions, no PassRole at run time
    assert not any(a.endswith("*") for a in acts)
    assert "iam:PassRole" not in acts
    # S3: read the source prefix; read and write this pipeline's work and report prefixes; read A2I output
    assert acts["s3:GetObject"] >= {f"arn:aws:s3:::{bucket}/{config.source.prefix}*",
                                    f"arn:aws:s3:::{bucket}/human-review/work/{pipeline}/*",
                                    f"arn:aws:s3:::{bucket}/human-review/reports/{pipeline}/*",
                                    f"arn:aws:s3:::{bucket}/a2i-output/{flow.name}*"}
    assert acts["s3:PutObject"] == {f"arn:aws:s3:::{bucket}/human-review/work/{pipeline}/*",
                                    f"arn:aws:s3:::{bucket}/human-review/reports/{pipeline}/*"}
    assert all(r.startswith(f"arn:aws:s3:::{bucket}/") for r in acts["s3:GetObject"] | acts["s3:PutObject"])
    [listing] = [s for s in policy["Statement"] if s["Action"] == ["s3:ListBucket"]]
    assert listing["Resource"] == [f"arn:aws:s3:::{bucket}"]
    assert f"{config.source.prefix}*" in listing["Condition"]["StringLike"]["s3:prefix"]
    # A2I runtime: start on the flow definition (every aws-setup version of it), manage this pipeline's loops
    assert LOOP_ACTIONS <= set(acts)
    assert acts["sagemaker:StartHumanLoop"] == {
        f"arn:aws:sagemaker:{flow.region}:{ACCOUNT}:flow-definition/{flow.name}",
        f"arn:aws:sagemaker:{flow.region}:{ACCOUNT}:flow-definition/{flow.name}-*"}
    loops = {f"arn:aws:sagemaker:{flow.region}:{ACCOUNT}:human-loop/{pipeline[:24].rstrip('-')}-*"}
    assert acts["sagemaker:DescribeHumanLoop"] == acts["sagemaker:StopHumanLoop"] == loops
    assert acts["sagemaker:ListHumanLoops"] == {"*"}  # no resource-level permission for it


def test_model_backends_get_their_own_actions_only():
    from human_review.aws_setup.policy import airflow_role_policy

    by_file = {p.stem: allowed(airflow_role_policy(load(p), ACCOUNT)[0]) for p in PIPELINE_FILES}
    model_actions = {"rekognition:DetectModerationLabels", "sagemaker:InvokeEndpoint", "sagemaker:CreateTransformJob",
                     "sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob", "sagemaker:DescribeModel"}
    # local models call no AWS model API
    for stem in ("content_moderation", "object_detection"):
        assert not model_actions & set(by_file[stem]), stem
    rek = by_file["rekognition_moderation"]
    assert rek["rekognition:DetectModerationLabels"] == {"*"}
    assert not (model_actions - {"rekognition:DetectModerationLabels"}) & set(rek)
    endpoint = by_file["sagemaker_detection"]
    assert endpoint["sagemaker:InvokeEndpoint"] == {f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/object-detection-ssd"}
    assert not {"rekognition:DetectModerationLabels", "sagemaker:CreateTransformJob"} & set(endpoint)
    batch = by_file["batch_detection"]
    jobs = {f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:transform-job/batch-detection-*"}
    assert batch["sagemaker:CreateTransformJob"] == batch["sagemaker:DescribeTransformJob"] == jobs
    assert batch["sagemaker:DescribeModel"] == {f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:model/object-detection-ssd"}
    assert "sagemaker:InvokeEndpoint" not in batch and "iam:PassRole" not in batch


def test_execution_role_and_setup_policy(monkeypatch):
    from human_review.aws_setup.policy import pipeline_policies

    role = f"arn:aws:iam::{ACCOUNT}:role/human-review-a2i-execution"
    flow_arn = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:flow-definition/content-moderation-0123abcd"
    monkeypatch.setenv("HUMAN_REVIEW_A2I_ROLE_ARN", role)
    monkeypatch.setenv("HUMAN_REVIEW_MODERATION_FLOW_ARN", flow_arn)
    config = load(ROOT / "include" / "pipelines" / "content_moderation.yaml")
    doc = pipeline_policies(config)  # account taken from the YAML's ARNs
    execution = doc["a2i_execution_role"]
    assert execution["role_arn"] == role
    assert execution["trust_policy"]["Statement"][0]["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    acts = allowed(execution["policy"])
    assert acts == {"s3:GetObject": {"arn:aws:s3:::human-review-demo/incoming/*"},
                    "s3:PutObject": {"arn:aws:s3:::human-review-demo/a2i-output/content-moderation*"}}
    assert flow_arn in allowed(doc["airflow_role_policy"])["sagemaker:StartHumanLoop"]

    setup = doc["setup_policy"]
    acts = allowed(setup)
    assert acts["iam:PassRole"] == {role}  # the only PassRole: the execution role, to SageMaker only
    [passrole] = [s for s in setup["Statement"] if s["Action"] == ["iam:PassRole"]]
    assert passrole["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert acts["sagemaker:CreateFlowDefinition"] >= {
        f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:flow-definition/content-moderation-*"}
    assert acts["sagemaker:CreateHumanTaskUi"] == {f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:human-task-ui/moderation-*"}
    assert acts["sagemaker:RenderUiTemplate"] == {"*"}
    assert acts["s3:GetBucketCORS"] == {"arn:aws:s3:::human-review-demo"}


@pytest.mark.parametrize("path", PIPELINE_FILES, ids=lambda p: p.stem)
def test_cors_rules_are_what_a2i_documents(path):
    from human_review.aws_setup.policy import cors

    config = load(path)
    rules = cors(config)
    assert rules["bucket"] == config.source.bucket
    assert rules["CORSRules"] == [{"AllowedHeaders": [], "AllowedMethods": ["GET"], "AllowedOrigins": ["*"],
                                   "ExposeHeaders": []}]


def test_cli_prints_json(capsys):
    from human_review.cli import main

    assert main(["aws-policy", "content-moderation", "--account", ACCOUNT]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) >= {"airflow_role_policy", "a2i_execution_role", "setup_policy", "s3_cors"}
    assert main(["aws-policy", str(ROOT / "include" / "examples" / "rekognition_moderation.yaml"), "--only", "airflow"]) == 0
    only = json.loads(capsys.readouterr().out)
    assert only["Version"] == "2012-10-17" and "rekognition:DetectModerationLabels" in allowed(only)
    assert main(["aws-policy", "content-moderation", "--only", "cors"]) == 0
    assert json.loads(capsys.readouterr().out)["CORSRules"][0]["AllowedMethods"] == ["GET"]
