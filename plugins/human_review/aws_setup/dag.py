"""The `human_review_aws_setup` DAG: `human-review aws-setup` from the Airflow UI.

Triggered by hand only. One task per pipeline file (`setup_<pipeline>`), each making sure the
pipeline's worker task UI and flow definition exist and are Active, through the pipeline's own
AWS connection. The trigger form picks pipelines (none = all) and offers a dry run. Each task
logs, and returns as XCom, the ARNs to put in the YAML.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import DAG, Param, task

from human_review.config import PipelineConfig, load_all

DAG_ID = "human_review_aws_setup"
START_DATE = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def _setup_task(config: PipelineConfig):
    @task(task_id=f"setup_{config.pipeline.replace('-', '_')}")
    def setup(**context: Any) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from human_review.aws_setup.apply import SetupError, apply_pipeline
        from human_review.aws_setup.plan import PlanError

        params = context["params"]
        selected = params.get("pipelines") or []
        if selected and config.pipeline not in selected:
            raise AirflowSkipException(f"{config.pipeline} is not among the selected pipelines {selected}")
        try:
            result = apply_pipeline(config, dry_run=bool(params.get("dry_run")),
                                    wait_seconds=float(params.get("wait_seconds") or 300))
        except (PlanError, SetupError) as e:  # retrying cannot fix the YAML or a Failed flow definition
            raise AirflowFailException(str(e)) from e
        print("\n".join(result.lines()))
        return result.to_dict()

    return setup()


def build_aws_setup_dag(configs: list[PipelineConfig] | None = None) -> DAG:
    configs = load_all()[0] if configs is None else configs
    names = [c.pipeline for c in configs]
    with DAG(
        dag_id=DAG_ID,
        description="Create the A2I worker task UIs and flow definitions the pipeline YAML files ask for.",
        doc_md=__doc__ + """
Same as `human-review aws-setup` on the command line. Names are versioned by content: an
unchanged pipeline finds what it made before and creates nothing; a changed template or flow
setting gets a new worker task UI / flow definition (both are immutable in SageMaker). The
connection's role needs the `setup_policy` that `human-review aws-policy PIPELINE` prints
(including iam:PassRole on the flow definition's execution role). See README, "Deploying the A2I side".
""",
        schedule=None,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=["human-review", "aws-setup"],
        params={
            "pipelines": Param([], type="array", items={"type": "string", **({"enum": names} if names else {})},
                               title="Pipelines", description="Which pipelines to set up (empty: all)."),
            "dry_run": Param(False, type="boolean", title="Dry run",
                             description="Describe only: say what would be created, create nothing."),
            "wait_seconds": Param(300, type="integer", minimum=10, maximum=3600, title="Wait for Active",
                                  description="How long each task waits for a new flow definition to become Active."),
        },
        default_args={"owner": "ml-platform", "retries": 2, "retry_delay": dt.timedelta(seconds=30)},
    ) as dag:
        for config in configs:
            _setup_task(config)
    return dag
