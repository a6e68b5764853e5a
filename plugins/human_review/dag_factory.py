"""Builds one review DAG per pipeline YAML.

discover -> infer (mapped over batches) -> route (mapped) -> wait_for_reviews (deferrable) -> report

Parsing stays cheap: loading a YAML and building tasks imports no model runtime, no pandas and no
boto3 client; those load inside the tasks that use them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from airflow.sdk import DAG, Asset, Param, task
from airflow.sdk.definitions.timetables.trigger import CronTriggerTimetable

from human_review.config import PipelineConfig, load_all
from human_review.exceptions import PipelineConfigError
from human_review.sensors import WaitForHumanLoopsSensor

log = logging.getLogger(__name__)
START_DATE = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def report_asset(config: PipelineConfig) -> Asset:
    """The Asset each run's report updates; its events carry the run's summary in `extra`."""
    return Asset(name=f"human_review_report_{config.pipeline.replace('-', '_')}",
                 uri=f"{config.report.prefix}/{config.pipeline}/")


def _doc_md(config: PipelineConfig) -> str:
    flow = config.review.flow_definition
    conditions = json.dumps(config.review.conditions, indent=2)
    return f"""# {config.pipeline}

{config.description.strip()}

| | |
|---|---|
| pipeline file | `{config.source_file}` |
| source | `s3://{config.source.bucket}/{config.source.prefix}` (objects modified in the run's data interval) |
| model backend | `{config.model.backend}` (concurrency {config.model.concurrency}) |
| flow definition | `{flow.flow_definition_arn}` (TaskCount {flow.task_count}, template `{flow.template}`) |
| reports | `{config.report.prefix}/{config.pipeline}/<run>/` |

**Trigger with parameters** to review a different prefix, an explicit list of keys, fewer images,
or to see what would go to people without starting any loop (`dry_run`).

Activation conditions (A2I grammar):

```json
{conditions}
```
"""


def _params(config: PipelineConfig) -> dict[str, Param]:
    return {
        "prefix": Param(
            None, type=["null", "string"], title="Source prefix",
            description=f"Key prefix to read instead of '{config.source.prefix}'.",
        ),
        "keys": Param(
            [], type="array", items={"type": "string"}, title="Explicit object keys",
            description="Review exactly these keys (one per line), ignoring prefix and data interval.",
        ),
        "all_in_prefix": Param(
            False, type="boolean", title="Ignore the data interval",
            description="Take every object under the prefix, whatever its LastModified.",
        ),
        "max_items": Param(
            config.source.max_items, type="integer", minimum=1, title="Max images",
            description="Stop after this many images.",
        ),
        "dry_run": Param(
            False, type="boolean", title="Dry run",
            description="Run the model and decide what would go to people, but start no human loop.",
        ),
    }


def build_dag(config: PipelineConfig) -> DAG:
    from human_review.stages.run import RunContext

    flow = config.review.flow_definition
    schedule = (
        CronTriggerTimetable(config.schedule, timezone=config.timezone, interval=dt.timedelta(hours=config.interval_hours))
        if config.schedule
        else None
    )
    asset = report_asset(config)
    with DAG(
        dag_id=config.dag_id,
        description=config.description.strip().splitlines()[0][:200],
        doc_md=_doc_md(config),
        schedule=schedule,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=list(dict.fromkeys(["human-review", *config.tags])),
        params=_params(config),
        default_args={
            "owner": config.owner,
            "retries": config.retries,
            "retry_delay": dt.timedelta(seconds=config.retry_delay_seconds),
            "retry_exponential_backoff": True,
        },
    ) as dag:

        @task(task_id="discover")
        def discover(**context: Any) -> list[dict[str, Any]]:
            from human_review.stages.discover import discover as run_discover

            return run_discover(RunContext.from_airflow(config, context))

        @task(task_id="infer", map_index_template="batch {{ task.op_kwargs['batch']['batch'] }}")
        def infer(batch: dict[str, Any], **context: Any) -> dict[str, Any]:
            from human_review.stages.infer import infer as run_infer

            return run_infer(RunContext.from_airflow(config, context), batch)

        @task(task_id="route", max_active_tis_per_dagrun=4)
        def route(batch: dict[str, Any], **context: Any) -> dict[str, Any]:
            from human_review.stages.route import route as run_route

            return run_route(RunContext.from_airflow(config, context), batch)

        @task(task_id="report", outlets=[asset])
        def report(routed: list[dict[str, Any]], wait_result: dict[str, Any] | None, **context: Any) -> dict[str, Any]:
            from human_review.stages.report import report as run_report

            summary = run_report(RunContext.from_airflow(config, context), list(routed), wait_result)
            context["outlet_events"][asset].extra = summary
            return summary

        batches = discover()
        if _uses_batch_transform(config):
            predicted = _batch_transform_branch(config, batches)
        else:
            predicted = infer.expand(batch=batches)
        routed = route.expand(batch=predicted)
        wait = WaitForHumanLoopsSensor(
            task_id="wait_for_reviews",
            routed=routed,
            flow_definition_arn=flow.flow_definition_arn,
            on_timeout=config.review.wait.on_timeout,
            wait_timeout=config.review.wait.timeout_seconds,
            poke_interval=config.review.wait.poll_interval_seconds,
            aws_conn_id=config.aws_conn_id,
            region_name=flow.region,
            deferrable=True,  # the wait holds no worker slot
            mode="reschedule",  # used only if someone turns deferral off
        )
        report(routed, wait.output)
    return dag


def _uses_batch_transform(config: PipelineConfig) -> bool:
    from human_review.inference.base import backend_class

    return bool(getattr(backend_class(config.model.backend), "batch_transform", False))


def _batch_transform_branch(config: PipelineConfig, batches: Any) -> Any:
    """prepare_transform -> transform (deferrable SageMaker job per batch) -> collect_transform.

    collect_transform returns what infer returns (a predictions.jsonl per batch), so route, wait
    and report are the same for every backend.
    """
    from human_review.inference.transform_operator import ReviewTransformOperator
    from human_review.stages.run import RunContext

    options = config.model.options

    @task(task_id="prepare_transform", map_index_template="batch {{ task.op_kwargs['batch']['batch'] }}")
    def prepare_transform(batch: dict[str, Any], **context: Any) -> dict[str, Any]:
        from human_review.inference.batch_transform import prepare

        return prepare(RunContext.from_airflow(config, context), batch)

    @task(task_id="collect_transform", map_index_template="batch {{ task.op_kwargs['batch']['batch'] }}")
    def collect_transform(batch: dict[str, Any], **context: Any) -> dict[str, Any]:
        from human_review.inference.batch_transform import collect

        return collect(RunContext.from_airflow(config, context), batch)

    configs = prepare_transform.expand(batch=batches)
    transform = ReviewTransformOperator.partial(
        task_id="transform",
        aws_conn_id=config.aws_conn_id,
        region_name=config.model.region,
        wait_for_completion=True,
        check_interval=int(options.get("check_interval_seconds", 60)),
        max_ingestion_time=options.get("job_timeout_seconds"),
        check_if_job_exists=True,
        action_if_job_exists="timestamp",
        deferrable=True,  # the wait holds no worker slot
    ).expand(config=configs)
    collected = collect_transform.expand(batch=batches)
    transform >> collected
    return collected


class PipelineConfigErrorDag(DAG):
    """Stands in for the pipelines whose YAML is wrong: the DagBag records their errors as an import error.

    DagBag validates each DAG of a file separately, so broken pipelines show up in the UI's import
    errors with the file and field named, while the file's good pipelines still load.
    """

    def __init__(self, errors: list[PipelineConfigError]) -> None:
        super().__init__(dag_id="human_review_invalid_pipelines", schedule=None, start_date=START_DATE)
        self.config_errors = errors

    def validate(self) -> None:
        if len(self.config_errors) == 1:
            raise self.config_errors[0]
        lines = "\n".join(str(e) for e in self.config_errors)
        raise PipelineConfigError("include/pipelines", "(several files)", f"{len(self.config_errors)} bad files:\n{lines}")


def build_dags() -> dict[str, DAG]:
    """Every pipeline's DAG, keyed by dag_id; bad files become an import error, not a missing DAG."""
    configs, errors = load_all()
    dags: dict[str, DAG] = {config.dag_id: build_dag(config) for config in configs}
    if errors:
        for error in errors:
            log.error("Pipeline not loaded: %s", error)
        bad = PipelineConfigErrorDag(errors)
        dags[bad.dag_id] = bad
    return dags
