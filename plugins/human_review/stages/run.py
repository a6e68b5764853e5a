"""What every stage knows about the run it works for."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from human_review import naming, storage
from human_review.config import PipelineConfig

STATUSES = ("auto_accepted", "reviewed", "review_failed", "review_expired", "invalid", "inference_failed")
DRY_RUN_STATUS = "review_skipped_dry_run"
# listed in the run's data interval but over max_items: reported, with a reason, instead of lost
OVER_LIMIT_STATUS = "not_processed_max_items"


@dataclass(frozen=True)
class RunContext:
    config: PipelineConfig
    run_key: str
    data_interval_start: dt.datetime | None = None
    data_interval_end: dt.datetime | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_airflow(cls, config: PipelineConfig, context: dict[str, Any]) -> RunContext:
        dag_run = context["dag_run"]
        return cls(
            config=config,
            run_key=naming.run_key(dag_run.logical_date, dag_run.run_id),
            data_interval_start=context.get("data_interval_start"),
            data_interval_end=context.get("data_interval_end"),
            params=dict(context.get("params") or {}),
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
