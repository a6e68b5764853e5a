"""What every stage knows about the run it works for (the records it hands on: records.py)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from human_review import naming, storage
from human_review.config import PipelineConfig


@dataclass(frozen=True)
class RunContext:
    config: PipelineConfig
    run_key: str
    data_interval_start: dt.datetime | None = None
    data_interval_end: dt.datetime | None = None
    params: dict[str, Any] = field(default_factory=dict)
    # the end of the previous successful run's data interval (None: no such run, or not known)
    previous_success_end: dt.datetime | None = None
    run_id: str | None = None  # the DAG run's id, as the Airflow UI shows it

    @classmethod
    def from_airflow(cls, config: PipelineConfig, context: dict[str, Any]) -> RunContext:
        dag_run = context["dag_run"]
        return cls(
            config=config,
            run_key=naming.run_key(dag_run.logical_date, dag_run.run_id),
            data_interval_start=context.get("data_interval_start"),
            data_interval_end=context.get("data_interval_end"),
            params=dict(context.get("params") or {}),
            previous_success_end=_previous_success_end(context),
            run_id=dag_run.run_id,
        )

    @property
    def conn_id(self) -> str:
        return self.config.aws_conn_id

    @property
    def dry_run(self) -> bool:
        return bool(self.params.get("dry_run", False))

    @property
    def work_uri(self) -> str:
        return storage.join(self.config.work_prefix, self.config.pipeline, self.run_key)

    @property
    def run_info_uri(self) -> str:
        """run.json: when the run first started (discover writes it once per run_key)."""
        return storage.join(self.work_uri, "run.json")

    def run_started(self) -> dt.datetime | None:
        """The run's first start time, or None when discover wrote none (a run of an older version)."""
        try:
            return dt.datetime.fromisoformat(storage.read_json(self.run_info_uri, self.conn_id)["started"])
        except FileNotFoundError:
            return None

    def batch_uri(self, batch: int, name: str) -> str:
        return storage.join(self.work_uri, f"batch-{batch:05d}", name)

    @property
    def report_uri(self) -> str:
        return storage.join(self.config.report.prefix, self.config.pipeline, self.run_key)

    @property
    def loop_prefix(self) -> str:
        return naming.loop_prefix(self.config.pipeline, self.run_key)

    def loop_name(self, key: str) -> str:
        return naming.loop_name(self.config.pipeline, self.run_key, key)


def _previous_success_end(context: dict[str, Any]) -> dt.datetime | None:
    """Airflow's `prev_data_interval_end_success` (a lazy lookup); None when there is none."""
    try:
        value = context.get("prev_data_interval_end_success")
        # materialise the proxy: a plain datetime pickles and compares like any other
        return dt.datetime.fromisoformat(value.isoformat()) if isinstance(value, dt.datetime) else None
    except Exception:  # no previous run (the lookup fails on None), or no API to ask
        return None
