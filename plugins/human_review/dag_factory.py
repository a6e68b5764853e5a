"""Builds one review DAG per pipeline YAML.

discover -> infer (mapped over batches) -> route (mapped) -> wait_for_reviews (deferrable) -> report

Parsing stays cheap: loading a YAML and building tasks imports no model runtime, no pandas and no
boto3 client; those load inside the tasks that use them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from typing import Any

from airflow.sdk import DAG, Asset, Param, task
from airflow.sdk.definitions.timetables.interval import CronDataIntervalTimetable
from airflow.sdk.definitions.timetables.trigger import CronTriggerTimetable

from human_review.config import PipelineConfig, load_all
from human_review.exceptions import PipelineConfigError
from human_review.sensors import WaitForHumanLoopsSensor

log = logging.getLogger(__name__)
DEFAULT_START_DATE = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def start_date(environ: dict[str, str] | None = None) -> dt.datetime:
    """The review DAGs' start_date: HUMAN_REVIEW_START_DATE (ISO 8601; UTC if no offset) or 2026-01-01.

    With catchup off, Airflow runs the latest scheduled interval as soon as a DAG is unpaused, unless
    the start_date is after it: a new stack sets this to its first start, so it fires no empty
    scheduled run (and no training export) before anyone has uploaded anything (`make up` does)."""
    raw = (os.environ if environ is None else environ).get("HUMAN_REVIEW_START_DATE", "").strip()
    if not raw:
        return DEFAULT_START_DATE
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"HUMAN_REVIEW_START_DATE={raw!r} is not an ISO 8601 date-time "
                         "(e.g. 2026-11-22T04:00:00+00:00)") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


START_DATE = start_date()


def report_asset(config: PipelineConfig) -> Asset:
    """The Asset each run's report updates; its events carry the run's summary (and the report's
    s3:// paths) in `extra`. The URI uses Airflow's custom `x-` scheme on purpose: any other scheme
    makes Airflow load every provider's URI handlers at parse, providers-amazon's S3 hook and boto3
    included, in every DAG-processor parse."""
    return Asset(name=f"human_review_report_{config.pipeline.replace('-', '_')}",
                 uri=f"x-human-review://{config.pipeline}/report")


def timetable(config: PipelineConfig) -> Any:
    """The DAG's timetable. By default each run's data interval runs from the previous schedule point
    to this one (CronDataIntervalTimetable), whatever the cron; an explicit `interval_hours` (which
    config.py checked equals the time between points) keeps a trigger timetable with that interval."""
    if not config.schedule:
        return None
    if config.interval_hours is None:
        return CronDataIntervalTimetable(config.schedule, timezone=config.timezone)
    return CronTriggerTimetable(config.schedule, timezone=config.timezone,
                                interval=dt.timedelta(hours=config.interval_hours))


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
    asset = report_asset(config)
    with DAG(
        dag_id=config.dag_id,
        description=(config.description.strip().splitlines() or [config.pipeline])[0][:200],
        doc_md=_doc_md(config),
        schedule=timetable(config),
        start_date=START_DATE,
        catchup=False,  # missed nights are covered by the next run instead (schedules.covered_start)
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

        # XCom carries plain dicts; each task turns them into records (records.py) and back. A task
        # annotated `-> dict` would push each key as an XCom of its own as well (TaskFlow infers
        # multiple_outputs from the annotation): one API call per key per task instance, none of them
        # read, so the dict-returning tasks say multiple_outputs=False.
        @task(task_id="discover")
        def discover(**context: Any) -> list[dict[str, Any]]:
            from human_review.stages.discover import discover as run_discover

            return [ref.to_dict() for ref in run_discover(RunContext.from_airflow(config, context))]

        # parallel_batches bounds both mapped stages: the model's requests_per_second is split between them
        @task(task_id="infer", map_index_template="batch {{ task.op_kwargs['batch']['batch'] }}",
              max_active_tis_per_dagrun=config.source.parallel_batches, multiple_outputs=False)
        def infer(batch: dict[str, Any], **context: Any) -> dict[str, Any]:
            from human_review.records import BatchRef
            from human_review.stages.infer import infer as run_infer

            return run_infer(RunContext.from_airflow(config, context), BatchRef.from_dict(batch)).to_dict()

        @task(task_id="route", max_active_tis_per_dagrun=config.source.parallel_batches, multiple_outputs=False)
        def route(batch: dict[str, Any], **context: Any) -> dict[str, Any]:
            from human_review.records import PredictionsRef
            from human_review.stages.route import route as run_route

            return run_route(RunContext.from_airflow(config, context), PredictionsRef.from_dict(batch)).to_dict()

        @task(task_id="report", outlets=[asset], multiple_outputs=False)
        def report(routed: list[dict[str, Any]], wait_result: dict[str, Any] | None, **context: Any) -> dict[str, Any]:
            from human_review.records import RouteResult
            from human_review.stages.report import report as run_report

            results = [RouteResult.from_dict(r) for r in routed if r]
            summary = run_report(RunContext.from_airflow(config, context), results, wait_result)
            if (wait_result or {}).get("fail_run"):  # on_timeout: fail / stop-and-fail, after the report
                from airflow.sdk.exceptions import AirflowFailException

                raise AirflowFailException(
                    f"the wait for reviews timed out with loops open ({wait_result.get('counts')}; on_timeout: "
                    f"{wait_result.get('on_timeout')}); the report of what was known is at "
                    f"{summary['files']['html']}")
            context["outlet_events"][asset].extra = summary
            return summary

        batches = discover()
        if config.model.batch_transform:
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


def _batch_transform_branch(config: PipelineConfig, batches: Any) -> Any:
    """prepare_transform -> transform (deferrable SageMaker job per batch) -> collect_transform.

    collect_transform returns what infer returns (a predictions.jsonl per batch), so route, wait
    and report are the same for every backend.
    """
    from human_review.operators import ReviewTransformOperator
    from human_review.stages.run import RunContext

    options = config.model.options

    @task(task_id="prepare_transform", map_index_template="batch {{ task.op_kwargs['batch']['batch'] }}",
          multiple_outputs=False)
    def prepare_transform(batch: dict[str, Any], **context: Any) -> dict[str, Any]:
        from human_review.records import BatchRef
        from human_review.stages.transform import prepare

        return prepare(RunContext.from_airflow(config, context), BatchRef.from_dict(batch))

    @task(task_id="collect_transform", map_index_template="batch {{ task.op_kwargs['batch']['batch'] }}",
          multiple_outputs=False)
    def collect_transform(batch: dict[str, Any], **context: Any) -> dict[str, Any]:
        from human_review.records import BatchRef
        from human_review.stages.transform import collect

        return collect(RunContext.from_airflow(config, context), BatchRef.from_dict(batch)).to_dict()

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


def build_export_dag(config: PipelineConfig) -> DAG:
    """The training export of one pipeline: scheduled on its report Asset, writes a Ground Truth
    augmented manifest next to each run's report (stages/export.py; docs/reports.md)."""
    asset = report_asset(config)
    with DAG(
        dag_id=f"human_review_training_export_{config.pipeline.replace('-', '_')}",
        description=f"Export {config.pipeline}'s reviewed images as a Ground Truth augmented manifest.",
        doc_md=EXPORT_DOC + f"\n\nPipeline: `{config.pipeline}`; reports under `{config.report.prefix}/{config.pipeline}/`.",
        schedule=[asset],
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=["human-review", "training-export", *config.tags],
        default_args={"owner": config.owner, "retries": max(2, config.retries),
                      "retry_delay": dt.timedelta(seconds=config.retry_delay_seconds)},
    ) as dag:

        @task(task_id="export_manifest", multiple_outputs=False)
        def export_manifest(**context: Any) -> dict[str, Any]:
            from human_review.stages.export import export_run

            events = (context.get("triggering_asset_events") or {}).get(asset) or []
            summaries = [e.extra for e in events if getattr(e, "extra", None)]
            return export_run(config, summaries[-1] if summaries else None)

        export_manifest()
    return dag


EXPORT_DOC = """Training export: every review report becomes a SageMaker Ground Truth augmented manifest.

Scheduled on the pipeline's report Asset: each time a nightly review run writes its report, this
DAG reads the run's Parquet (path from the Asset event's summary), keeps the images people
reviewed and writes `training-manifest.jsonl` next to the report, in Ground Truth's
object-detection or multi-label image-classification shape, for a retraining job to pick up.
See docs/reports.md, "Training export"."""


class PipelineConfigErrorDag(DAG):
    """Stands in for the pipelines whose YAML is wrong: the DagBag records their errors as an import error.

    DagBag validates each DAG of a file separately, so broken pipelines show up in the UI's import
    errors with the file and field named, while the file's good pipelines still load.
    """

    def __init__(self, errors: list[PipelineConfigError], dag_id: str = "human_review_invalid_pipelines") -> None:
        super().__init__(dag_id=dag_id, schedule=None, start_date=START_DATE)
        self.config_errors = errors

    def validate(self) -> None:
        if len(self.config_errors) == 1:
            raise self.config_errors[0]
        lines = "\n".join(str(e) for e in self.config_errors)
        raise PipelineConfigError("include/pipelines", "(several files)", f"{len(self.config_errors)} bad files:\n{lines}")


def _with_errors(dags: dict[str, DAG], errors: list[PipelineConfigError], error_dag_id: str) -> dict[str, DAG]:
    if errors:
        for error in errors:
            log.error("Pipeline not loaded: %s", error)
        bad = PipelineConfigErrorDag(errors, error_dag_id)
        dags[bad.dag_id] = bad
    return dags


def _build_each(configs: list[PipelineConfig], build: Any, errors: list[PipelineConfigError]) -> dict[str, DAG]:
    """Build one DAG per config; a config that validated yet cannot be built costs its own DAG (an
    import error naming its file), never the other pipelines'."""
    dags: dict[str, DAG] = {}
    for config in configs:
        try:
            dag = build(config)
        except Exception as e:  # a gap in validation: report it like a bad field, keep the others
            log.exception("Pipeline %s could not be built", config.source_file)
            errors.append(PipelineConfigError(config.source_file, "(pipeline)", f"cannot build its DAG: "
                                              f"{type(e).__name__}: {e}"))
            continue
        dags[dag.dag_id] = dag
    return dags


def build_dags() -> dict[str, DAG]:
    """Every pipeline's DAG, keyed by dag_id; bad files become an import error, not a missing DAG."""
    configs, errors = load_all()
    return _with_errors(_build_each(configs, build_dag, errors), errors, "human_review_invalid_pipelines")


def build_export_dags() -> dict[str, DAG]:
    """Every pipeline's training export DAG; bad files become this file's import error too."""
    configs, errors = load_all()
    return _with_errors(_build_each(configs, build_export_dag, errors), errors,
                        "human_review_training_export_invalid_pipelines")
