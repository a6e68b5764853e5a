"""`human-review aws-setup / aws-policy / aws-check`: what cli.py's subcommands run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from human_review.config import PipelineConfig, find_pipeline, load_all, load_pipeline
from human_review.exceptions import PipelineConfigError


def load(ref: str) -> PipelineConfig:
    """A pipeline by name (include/pipelines/<name>.yaml) or by the path of its YAML file."""
    path = Path(ref)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        return load_pipeline(path)
    return find_pipeline(ref)


def _configs(refs: list[str]) -> list[PipelineConfig]:
    if refs:
        return [load(r) for r in refs]
    configs, errors = load_all()
    for e in errors:
        print(f"skipped: {e}", file=sys.stderr)
    return configs


def _aws_error(e: Exception) -> str | None:
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(e, ClientError):
        err = e.response.get("Error", {})
        return f"AWS refused {e.operation_name}: {err.get('Code')}: {err.get('Message')}"
    if isinstance(e, BotoCoreError):
        return f"AWS: {e}"
    return None


def run_setup(refs: list[str], *, dry_run: bool, wait_seconds: float, aws_conn_id: str | None) -> int:
    from human_review.aws_setup.apply import SetupError, apply_pipeline
    from human_review.aws_setup.plan import PlanError

    try:
        configs = _configs(refs)
    except PipelineConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    failed = 0
    for config in configs:
        try:
            result = apply_pipeline(config, dry_run=dry_run, wait_seconds=wait_seconds, aws_conn_id=aws_conn_id)
        except (PlanError, SetupError) as e:
            print(f"{config.pipeline}: error: {e}", file=sys.stderr)
            failed += 1
            continue
        except Exception as e:  # noqa: BLE001 - an AWS refusal is reported per pipeline
            message = _aws_error(e)
            if message is None:
                raise
            print(f"{config.pipeline}: error: {message}", file=sys.stderr)
            failed += 1
            continue
        print("\n".join(result.lines()), flush=True)
    return 1 if failed or not configs else 0


def run_policy(ref: str, *, account: str | None, only: str | None) -> int:
    from human_review.aws_setup.policy import pipeline_policies

    try:
        config = load(ref)
    except PipelineConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    doc = pipeline_policies(config, account=account)
    if only:
        doc = {"airflow": doc["airflow_role_policy"], "execution-role": doc["a2i_execution_role"]["policy"],
               "trust": doc["a2i_execution_role"]["trust_policy"], "setup": doc["setup_policy"],
               "cors": {"CORSRules": doc["s3_cors"]["CORSRules"]}}[only]
    print(json.dumps(doc, indent=2))
    return 0


def run_check(ref: str, *, aws_conn_id: str | None) -> int:
    from human_review.aws_setup.check import check_pipeline

    try:
        config = load(ref)
    except PipelineConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    try:
        findings = check_pipeline(config, aws_conn_id=aws_conn_id)
    except Exception as e:  # noqa: BLE001
        message = _aws_error(e)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 1
    print(f"{config.pipeline} ({config.source_file}):")
    for finding in findings:
        print("  " + finding.line().replace("\n", "\n  "))
    bad = [f for f in findings if not f.ok]
    print(f"{len(bad)} thing{'s' if len(bad) != 1 else ''} to fix" if bad else "ready")
    return 1 if bad else 0
