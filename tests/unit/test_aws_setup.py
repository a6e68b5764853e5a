"""aws-setup, aws-check and the human_review_aws_setup DAG against botocore's Stubber.

moto implements neither HumanTaskUis nor flow definitions, so every SageMaker and S3 answer here
is stubbed; the Stubber checks each request against the service model (and each canned response
too), so the shapes are the real API's.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
WORKTEAM = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:workteam/private-crowd/reviewers"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/human-review-a2i-execution"
NOW = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    monkeypatch.setenv("HUMAN_REVIEW_WORKTEAM_ARN", WORKTEAM)
    monkeypatch.setenv("HUMAN_REVIEW_A2I_ROLE_ARN", ROLE)
    monkeypatch.delenv("HUMAN_REVIEW_MODERATION_FLOW_ARN", raising=False)
    monkeypatch.delenv("HUMAN_REVIEW_BUCKET", raising=False)


def client(service: str):
    return boto3.client(service, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")


def config(name: str = "content-moderation"):
    from human_review.config import find_pipeline

    return find_pipeline(name)


def ui_arn(name: str) -> str:
    return f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:human-task-ui/{name}"


def fd_arn(name: str) -> str:
    return f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:flow-definition/{name}"


def described_flow(setup, status: str = "Active", *, ui: str | None = None, **loop_changes) -> dict:
    """DescribeFlowDefinition's answer for a flow definition made from `setup` (the plan)."""
    request = setup.flow_definition.create_request(ui or ui_arn(setup.task_ui.name))
    request.pop("Tags")
    request["HumanLoopConfig"].update(loop_changes)
    answer = {**request, "FlowDefinitionArn": fd_arn(setup.flow_definition.name), "FlowDefinitionStatus": status,
              "CreationTime": NOW}
    if status == "Failed":
        answer["FailureReason"] = "SageMaker could not assume the role"
    return answer


def not_found(stub: Stubber, method: str, **params) -> None:
    stub.add_client_error(method, service_error_code="ResourceNotFound", service_message="not found",
                          http_status_code=400, expected_params=params)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


# ---------------------------------------------------------------- plan


def test_plan_names_are_content_addressed_and_valid():
    import re

    from human_review.aws_setup.plan import plan

    first, again = plan(config()), plan(config())
    assert first.task_ui.name == again.task_ui.name and first.flow_definition.name == again.flow_definition.name
    assert re.fullmatch(r"moderation-[0-9a-f]{8}", first.task_ui.name)
    assert re.fullmatch(r"content-moderation-[0-9a-f]{8}", first.flow_definition.name)
    loop = first.flow_definition.settings["HumanLoopConfig"]
    assert loop["WorkteamArn"] == WORKTEAM and loop["TaskCount"] == 1 and loop["TaskTimeLimitInSeconds"] == 600
    assert first.flow_definition.settings["RoleArn"] == ROLE
    # custom task type: A2I takes no conditions for it; the pipeline evaluates them itself
    assert "HumanLoopActivationConfig" not in first.flow_definition.settings
    assert "HumanLoopRequestSource" not in first.flow_definition.settings


def test_plan_rekognition_managed_carries_conditions_and_request_source():
    from human_review.aws_setup.plan import REKOGNITION_SOURCE, plan
    from human_review.config import load_pipeline

    cfg = load_pipeline(ROOT / "include" / "examples" / "rekognition_moderation.yaml")
    settings = plan(cfg).flow_definition.settings
    assert settings["HumanLoopRequestSource"] == {"AwsManagedHumanLoopRequestSource": REKOGNITION_SOURCE}
    conditions = settings["HumanLoopActivationConfig"]["HumanLoopActivationConditionsConfig"][
        "HumanLoopActivationConditions"]
    assert json.loads(conditions) == cfg.review.conditions


def test_plan_keywords_made_acceptable_to_a2i():
    from human_review.aws_setup.plan import plan

    setup = plan(config("object-detection"))
    assert setup.flow_definition.settings["HumanLoopConfig"]["TaskKeywords"] == ["bounding box", "faces"]
    assert any("bounding-box" in n for n in setup.notes)


def test_plan_without_workteam_and_role_says_what_to_set(monkeypatch):
    from human_review.aws_setup.plan import PlanError, plan

    monkeypatch.delenv("HUMAN_REVIEW_WORKTEAM_ARN")
    monkeypatch.delenv("HUMAN_REVIEW_A2I_ROLE_ARN")
    with pytest.raises(PlanError, match=r"workteam_arn and review.flow_definition.role_arn not set"):
        plan(config())


# ---------------------------------------------------------------- apply


def test_everything_missing_is_created_and_waited_for():
    from human_review.aws_setup.apply import apply_pipeline
    from human_review.aws_setup.plan import plan

    cfg = config()
    setup = plan(cfg)
    ui, fd = setup.task_ui.name, setup.flow_definition.name
    sm = client("sagemaker")
    clock = Clock()
    with Stubber(sm) as stub:
        not_found(stub, "describe_human_task_ui", HumanTaskUiName=ui)
        stub.add_response("create_human_task_ui", {"HumanTaskUiArn": ui_arn(ui)}, setup.task_ui.create_request())
        not_found(stub, "describe_flow_definition", FlowDefinitionName=fd)
        stub.add_response("create_flow_definition", {"FlowDefinitionArn": fd_arn(fd)},
                          setup.flow_definition.create_request(ui_arn(ui)))
        stub.add_response("describe_flow_definition", described_flow(setup, "Initializing"), {"FlowDefinitionName": fd})
        stub.add_response("describe_flow_definition", described_flow(setup, "Active"), {"FlowDefinitionName": fd})
        result = apply_pipeline(cfg, sm, poll_seconds=5, sleep=clock.sleep, clock=clock)
        stub.assert_no_pending_responses()
    assert (result.task_ui_created, result.flow_definition_created) == (True, True)
    assert result.task_ui_arn == ui_arn(ui) and result.flow_definition_arn == fd_arn(fd)
    assert result.flow_definition_status == "Active" and clock.slept == [5]
    text = "\n".join(result.lines())
    assert "HUMAN_REVIEW_MODERATION_FLOW_ARN=" + fd_arn(fd) in text  # the YAML reads ${HUMAN_REVIEW_MODERATION_FLOW_ARN:-}


def test_everything_existing_and_unchanged_creates_nothing(monkeypatch):
    from human_review.aws_setup.apply import apply_pipeline
    from human_review.aws_setup.plan import plan

    setup = plan(config())
    monkeypatch.setenv("HUMAN_REVIEW_MODERATION_FLOW_ARN", fd_arn(setup.flow_definition.name))
    cfg = config()
    sm = client("sagemaker")
    with Stubber(sm) as stub:  # any create_* call would fail: nothing is queued for it
        stub.add_response("describe_human_task_ui",
                          {"HumanTaskUiArn": ui_arn(setup.task_ui.name), "HumanTaskUiName": setup.task_ui.name,
                           "HumanTaskUiStatus": "Active", "CreationTime": NOW,
                           "UiTemplate": {"Url": "https://example.com/t", "ContentSha256": setup.task_ui.sha256}},
                          {"HumanTaskUiName": setup.task_ui.name})
        stub.add_response("describe_flow_definition", described_flow(setup),
                          {"FlowDefinitionName": setup.flow_definition.name})
        result = apply_pipeline(cfg, sm, sleep=pytest.fail)
        stub.assert_no_pending_responses()
    assert (result.task_ui_created, result.flow_definition_created) == (False, False)
    assert result.yaml_up_to_date and "already names this flow definition" in "\n".join(result.lines())


def test_changed_template_gives_new_versioned_ui_and_flow_definition(tmp_path, monkeypatch):
    import human_review.config as config_module
    from human_review.aws_setup.apply import apply_pipeline
    from human_review.aws_setup.plan import plan

    before = plan(config())
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "include" / "templates", templates)
    path = templates / "moderation.liquid.html"
    path.write_text(path.read_text().replace("Pick every category", "Tick every category"))
    monkeypatch.setattr(config_module, "TEMPLATES_DIR", templates)
    cfg = config()
    after = plan(cfg)
    assert after.task_ui.name != before.task_ui.name and after.task_ui.name.startswith("moderation-")
    assert after.flow_definition.name != before.flow_definition.name
    assert after.flow_definition.name.startswith("content-moderation-")

    sm = client("sagemaker")
    clock = Clock()
    new_ui, new_fd = after.task_ui.name, after.flow_definition.name
    with Stubber(sm) as stub:
        not_found(stub, "describe_human_task_ui", HumanTaskUiName=new_ui)
        stub.add_response("create_human_task_ui", {"HumanTaskUiArn": ui_arn(new_ui)}, after.task_ui.create_request())
        not_found(stub, "describe_flow_definition", FlowDefinitionName=new_fd)
        request = after.flow_definition.create_request(ui_arn(new_ui))
        stub.add_response("create_flow_definition", {"FlowDefinitionArn": fd_arn(new_fd)}, request)
        stub.add_response("describe_flow_definition", described_flow(after), {"FlowDefinitionName": new_fd})
        result = apply_pipeline(cfg, sm, sleep=clock.sleep, clock=clock)
        stub.assert_no_pending_responses()
    assert request["HumanLoopConfig"]["HumanTaskUiArn"] == ui_arn(new_ui)
    assert result.task_ui_created and result.flow_definition_created
    assert result.flow_definition_arn == fd_arn(new_fd)


def test_failed_flow_definition_is_a_clear_error():
    from human_review.aws_setup.apply import SetupError, apply_pipeline
    from human_review.aws_setup.plan import plan

    cfg = config()
    setup = plan(cfg)
    ui, fd = setup.task_ui.name, setup.flow_definition.name
    sm = client("sagemaker")
    with Stubber(sm) as stub:
        stub.add_response("describe_human_task_ui",
                          {"HumanTaskUiArn": ui_arn(ui), "HumanTaskUiName": ui, "CreationTime": NOW,
                           "UiTemplate": {"Url": "https://example.com/t"}}, {"HumanTaskUiName": ui})
        not_found(stub, "describe_flow_definition", FlowDefinitionName=fd)
        stub.add_response("create_flow_definition", {"FlowDefinitionArn": fd_arn(fd)},
                          setup.flow_definition.create_request(ui_arn(ui)))
        stub.add_response("describe_flow_definition", described_flow(setup, "Failed"), {"FlowDefinitionName": fd})
        with pytest.raises(SetupError) as raised:
            apply_pipeline(cfg, sm, sleep=lambda s: None)
        stub.assert_no_pending_responses()
    message = str(raised.value)
    assert f"flow definition {fd} is Failed: SageMaker could not assume the role" in message
    assert f"delete-flow-definition --flow-definition-name {fd}" in message


def test_existing_failed_flow_definition_is_reported_not_recreated():
    from human_review.aws_setup.apply import SetupError, ensure_flow_definition
    from human_review.aws_setup.plan import plan

    setup = plan(config())
    sm = client("sagemaker")
    with Stubber(sm) as stub:
        stub.add_response("describe_flow_definition", described_flow(setup, "Failed"),
                          {"FlowDefinitionName": setup.flow_definition.name})
        with pytest.raises(SetupError, match="is Failed"):
            ensure_flow_definition(sm, setup, ui_arn(setup.task_ui.name))
        stub.assert_no_pending_responses()


def test_waiting_for_active_is_bounded():
    from human_review.aws_setup.apply import SetupError, wait_until_active
    from human_review.aws_setup.plan import plan

    setup = plan(config())
    sm = client("sagemaker")
    clock = Clock()
    with Stubber(sm) as stub:
        for _ in range(4):
            stub.add_response("describe_flow_definition", described_flow(setup, "Initializing"),
                              {"FlowDefinitionName": setup.flow_definition.name})
        with pytest.raises(SetupError, match="still Initializing after 15 s"):
            wait_until_active(sm, setup.flow_definition.name, wait_seconds=15, poll_seconds=5,
                              sleep=clock.sleep, clock=clock)
    assert clock.now <= 15


def test_same_name_with_other_settings_is_never_overwritten():
    from human_review.aws_setup.apply import SetupError, ensure_flow_definition
    from human_review.aws_setup.plan import plan

    setup = plan(config())
    sm = client("sagemaker")
    with Stubber(sm) as stub:
        stub.add_response("describe_flow_definition", described_flow(setup, TaskCount=3),
                          {"FlowDefinitionName": setup.flow_definition.name})
        with pytest.raises(SetupError, match=r"TaskCount: 3 on AWS, 1 wanted"):
            ensure_flow_definition(sm, setup, ui_arn(setup.task_ui.name))


def test_dry_run_only_describes():
    from human_review.aws_setup.apply import apply_pipeline
    from human_review.aws_setup.plan import plan

    cfg = config()
    setup = plan(cfg)
    sm = client("sagemaker")
    with Stubber(sm) as stub:
        not_found(stub, "describe_human_task_ui", HumanTaskUiName=setup.task_ui.name)
        not_found(stub, "describe_flow_definition", FlowDefinitionName=setup.flow_definition.name)
        result = apply_pipeline(cfg, sm, dry_run=True)
        stub.assert_no_pending_responses()
    assert result.flow_definition_arn is None and "would be created" in "\n".join(result.lines())


def test_cli_aws_setup_reports_errors_per_pipeline(monkeypatch, capsys):
    import human_review.aws_setup.apply as apply_module
    from human_review.cli import main

    sm = client("sagemaker")
    monkeypatch.setattr(apply_module, "sagemaker_client", lambda config, conn=None: sm)
    with Stubber(sm) as stub:
        stub.add_client_error("describe_human_task_ui", service_error_code="AccessDeniedException",
                              service_message="not authorized", http_status_code=400)
        assert main(["aws-setup", "content-moderation"]) == 1
    err = capsys.readouterr().err
    assert "content-moderation: error: AWS refused DescribeHumanTaskUi: AccessDeniedException" in err


# ---------------------------------------------------------------- check


def _s3_ready(stub: Stubber, cfg, *, cors: bool = True, keys=("incoming/a.jpg",)) -> None:
    bucket = cfg.source.bucket
    locations = [cfg.source.prefix, f"human-review/work/{cfg.pipeline}/", f"human-review/reports/{cfg.pipeline}/",
                 f"a2i-output/{cfg.review.flow_definition.name}"]
    for i, prefix in enumerate(locations):
        stub.add_response("head_bucket", {}, {"Bucket": bucket})
        contents = [{"Key": k, "Size": 10} for k in keys] if i == 0 else []
        stub.add_response("list_objects_v2", {"Contents": contents, "IsTruncated": False, "KeyCount": len(contents)},
                          {"Bucket": bucket, "Prefix": prefix, "MaxKeys": 50})
    if cors:
        stub.add_response("get_bucket_cors", {"CORSRules": [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}]},
                          {"Bucket": bucket})
    else:
        stub.add_client_error("get_bucket_cors", service_error_code="NoSuchCORSConfiguration",
                              service_message="The CORS configuration does not exist", http_status_code=404,
                              expected_params={"Bucket": bucket})


def _configured(monkeypatch):
    from human_review.aws_setup.plan import plan

    setup = plan(config())
    monkeypatch.setenv("HUMAN_REVIEW_MODERATION_FLOW_ARN", fd_arn(setup.flow_definition.name))
    return config(), setup


def test_check_ready_account(monkeypatch):
    from human_review.aws_setup.check import check_pipeline

    cfg, setup = _configured(monkeypatch)
    sm, s3 = client("sagemaker"), client("s3")
    with Stubber(sm) as sm_stub, Stubber(s3) as s3_stub:
        _s3_ready(s3_stub, cfg)
        sm_stub.add_response("describe_flow_definition", described_flow(setup),
                             {"FlowDefinitionName": setup.flow_definition.name})
        sm_stub.add_response("render_ui_template", {"RenderedContent": "<crowd-form>...</crowd-form>", "Errors": []})
        findings = check_pipeline(cfg, sm, s3)
        sm_stub.assert_no_pending_responses()
        s3_stub.assert_no_pending_responses()
    assert all(f.ok for f in findings), [f.line() for f in findings if not f.ok]
    assert any("exists and is Active" in f.message for f in findings)
    assert any("renders with RenderUiTemplate" in f.message for f in findings)


def test_check_render_uses_a_real_image_and_the_flow_definitions_role(monkeypatch):
    from human_review.aws_setup.check import check_render

    cfg, _ = _configured(monkeypatch)
    sm = client("sagemaker")
    with Stubber(sm) as stub:
        stub.add_response("render_ui_template", {"RenderedContent": "", "Errors": []})
        captured = {}
        sm.meta.events.register("provide-client-params.sagemaker.RenderUiTemplate",
                                lambda params, **kw: captured.update(params))
        assert check_render(sm, cfg, ROLE, "incoming/2026/cat.jpg").ok
    task = json.loads(captured["Task"]["Input"])
    assert task["taskObject"] == "s3://human-review-demo/incoming/2026/cat.jpg"
    assert task["labelCategories"] and captured["RoleArn"] == ROLE


def test_check_finds_what_to_fix(monkeypatch, capsys):
    import human_review.aws_setup.apply as apply_module
    import human_review.aws_setup.check as check_module
    from human_review.cli import main

    cfg, setup = _configured(monkeypatch)
    sm, s3 = client("sagemaker"), client("s3")
    monkeypatch.setattr(apply_module, "sagemaker_client", lambda config, conn=None: sm)
    monkeypatch.setattr(check_module, "s3_client", lambda config, conn=None: s3)
    old_ui = "moderation-00000000"
    with Stubber(sm) as sm_stub, Stubber(s3) as s3_stub:
        _s3_ready(s3_stub, cfg, cors=False)
        sm_stub.add_response("describe_flow_definition",
                             described_flow(setup, "Failed", ui=ui_arn(old_ui), TaskCount=2),
                             {"FlowDefinitionName": setup.flow_definition.name})
        sm_stub.add_response("describe_human_task_ui",
                             {"HumanTaskUiArn": ui_arn(old_ui), "HumanTaskUiName": old_ui, "CreationTime": NOW,
                              "UiTemplate": {"Url": "https://example.com/t", "ContentSha256": "0" * 64}},
                             {"HumanTaskUiName": old_ui})
        sm_stub.add_response("render_ui_template", {"RenderedContent": "", "Errors": [
            {"Code": "TemplateError", "Message": "Unknown filter 'grant_read_acess'"}]})
        assert main(["aws-check", "content-moderation"]) == 1
    out = capsys.readouterr().out
    assert "CORS on s3://human-review-demo: none" in out and "put-bucket-cors" in out
    assert "is Failed: SageMaker could not assume the role" in out
    assert "TaskCount: 2 on AWS, 1 wanted" in out
    assert f"{old_ui} is not moderation.liquid.html as it is now" in out
    assert "Unknown filter 'grant_read_acess'" in out
    assert out.rstrip().endswith("5 things to fix")


def test_check_without_arn_or_access(monkeypatch):
    from human_review.aws_setup.check import check_pipeline

    cfg = config()  # no flow definition ARN in the environment
    sm, s3 = client("sagemaker"), client("s3")
    with Stubber(sm) as sm_stub, Stubber(s3) as s3_stub:
        s3_stub.add_client_error("head_bucket", service_error_code="403", http_status_code=403)
        s3_stub.add_client_error("list_objects_v2", service_error_code="AccessDenied", service_message="Access Denied",
                                 http_status_code=403)
        for _ in range(3):
            s3_stub.add_client_error("head_bucket", service_error_code="404", http_status_code=404)
        sm_stub.add_response("render_ui_template", {"RenderedContent": "", "Errors": []})
        findings = check_pipeline(cfg, sm, s3)
    bad = [f for f in findings if not f.ok]
    assert "cannot list s3://human-review-demo/incoming/" in bad[0].message and "s3:ListBucket" in bad[0].fix
    assert any("does not exist" in f.message for f in bad)
    assert any("arn is not set" in f.message and "aws-setup content-moderation" in f.fix for f in bad)


# ---------------------------------------------------------------- DAG


def test_aws_setup_dag_has_one_task_per_pipeline():
    from human_review.aws_setup.dag import build_aws_setup_dag
    from human_review.config import load_all

    dag = build_aws_setup_dag()
    assert dag.dag_id == "human_review_aws_setup" and dag.schedule is None
    names = [c.pipeline.replace("-", "_") for c in load_all()[0]]
    assert sorted(t.task_id for t in dag.tasks) == sorted(f"setup_{n}" for n in names)
    assert {"pipelines", "dry_run", "wait_seconds"} <= set(dag.params)
    assert all(t.retries >= 2 for t in dag.tasks)


def test_aws_setup_dag_task_skips_unselected_and_fails_fast_on_config_errors(monkeypatch, capsys):
    import human_review.aws_setup.apply as apply_module
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
    from human_review.aws_setup.dag import build_aws_setup_dag
    from human_review.aws_setup.plan import PlanError

    dag = build_aws_setup_dag()
    setup = dag.get_task("setup_content_moderation").python_callable
    params = {"pipelines": ["object-detection"], "dry_run": False, "wait_seconds": 60}
    with pytest.raises(AirflowSkipException):
        setup(params=params)

    calls = []

    def fake_apply(config, **kwargs):
        calls.append((config.pipeline, kwargs))
        raise PlanError("review.flow_definition.workteam_arn not set")

    monkeypatch.setattr(apply_module, "apply_pipeline", fake_apply)
    with pytest.raises(AirflowFailException, match="workteam_arn not set"):  # no retry can fix a YAML
        setup(params={**params, "pipelines": ["content-moderation"], "dry_run": True})
    assert calls == [("content-moderation", {"dry_run": True, "wait_seconds": 60.0})]
