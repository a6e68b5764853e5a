"""WaitForHumanLoopsSensor: one deferrable wait for every human loop a run started.

Before deferring it counts once: if every loop already finished (a retry, a rerun) it returns at
once. While deferred it holds no worker slot; the triggerer pages ListHumanLoops. When the wait
times out, `on_timeout` decides: `stop` stops the loops still open (the report shows them as
review_expired) and lets the run finish; `fail` fails the task.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, Sequence

from airflow.sdk import BaseSensorOperator, conf
from airflow.sdk.exceptions import AirflowSensorTimeout

from human_review.a2i import DEFAULT_CLIENT_CONFIG, STOP_RACE_ERRORS, count_statuses, finished
from human_review.exceptions import error_code


class WaitForHumanLoopsSensor(BaseSensorOperator):
    """Wait until every loop listed in the routing results is Completed, Failed or Stopped."""

    template_fields: Sequence[str] = ("routed",)

    def __init__(
        self,
        *,
        routed: Any,
        flow_definition_arn: str,
        name_prefix: str | None = None,
        on_timeout: str = "stop",
        wait_timeout: float = 2 * 86_400,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        if on_timeout not in ("stop", "fail"):
            raise ValueError(f"on_timeout must be 'stop' or 'fail', not {on_timeout!r}")
        if wait_timeout <= 0:
            raise ValueError("wait_timeout must be positive")
        kwargs.setdefault("timeout", wait_timeout)
        super().__init__(**kwargs)
        self.routed = routed
        self.flow_definition_arn = flow_definition_arn
        self.name_prefix = name_prefix
        self.on_timeout = on_timeout
        self.wait_timeout = wait_timeout
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config if botocore_config is not None else DEFAULT_CLIENT_CONFIG
        self.deferrable = deferrable

    # what the route step reported, summed over its batches
    def _plan(self) -> tuple[int, str, str | None, bool]:
        batches = [b for b in (self.routed or []) if b]
        expected = sum(int(b.get("loops", 0)) for b in batches)
        prefixes = {b["loop_prefix"] for b in batches if b.get("loop_prefix")}
        prefix = self.name_prefix or (prefixes.pop() if len(prefixes) == 1 else "")
        starts = [b["earliest_loop"] for b in batches if b.get("earliest_loop")]
        created_after = None
        if starts:
            earliest = min(dt.datetime.fromisoformat(s) for s in starts)
            created_after = (earliest - dt.timedelta(seconds=1)).isoformat()
        dry_run = any(b.get("dry_run") for b in batches)
        return expected, prefix, created_after, dry_run

    def _hook(self):
        from human_review.hooks import human_loop_hook  # boto3: imported when the task runs, not at parse

        return human_loop_hook(self.aws_conn_id, self.region_name, self.verify, self.botocore_config)

    def _counts(self, prefix: str, created_after: str | None) -> dict[str, int]:
        after = dt.datetime.fromisoformat(created_after) if created_after else None
        return count_statuses(self._hook().list_loops(self.flow_definition_arn, created_after=after, name_prefix=prefix))

    def _deadline(self, created_after: str | None) -> float:
        """When the wait ends: `wait_timeout` after the run's first loop started, so a retried or
        cleared wait task keeps the run's deadline instead of starting a fresh one."""
        if created_after:
            first = dt.datetime.fromisoformat(created_after) + dt.timedelta(seconds=1)
            return first.timestamp() + self.wait_timeout
        return time.time() + self.wait_timeout

    def _progress(self, expected: int, prefix: str, created_after: str | None) -> tuple[dict[str, int], bool]:
        counts = self._counts(prefix, created_after)
        self.log.info("%d of %d human loops finished: %s", finished(counts), expected, counts)
        return counts, finished(counts) >= expected

    def poke(self, context: Any) -> bool:
        expected, prefix, created_after, _ = self._plan()
        return self._progress(expected, prefix, created_after)[1]

    def execute(self, context: Any) -> dict[str, Any]:
        expected, prefix, created_after, dry_run = self._plan()
        if expected == 0:
            self.log.info("No human loops to wait for%s.", " (dry run)" if dry_run else "")
            return {"status": "done", "counts": {}, "expected": 0}
        if not self.deferrable:
            super().execute(context)
            return {"status": "done", "counts": self._counts(prefix, created_after), "expected": expected}
        counts, done = self._progress(expected, prefix, created_after)
        if done:
            return {"status": "done", "counts": counts, "expected": expected}
        from human_review.triggers import HumanLoopsTrigger

        self.defer(
            trigger=HumanLoopsTrigger(
                flow_definition_arn=self.flow_definition_arn,
                name_prefix=prefix,
                expected=expected,
                created_after=created_after,
                deadline=self._deadline(created_after),
                poll_interval=self.poke_interval,
                aws_conn_id=self.aws_conn_id,
                region_name=self.region_name,
                verify=self.verify,
                botocore_config=self.botocore_config,
            ),
            method_name="execute_complete",
            # the trigger ends the wait itself at its deadline; this is the backstop
            timeout=dt.timedelta(seconds=max(0.0, self._deadline(created_after) - time.time())
                                 + 2 * self.poke_interval + 300),
        )
        raise AssertionError("unreachable: defer() raises")

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        expected, prefix, created_after, _ = self._plan()
        event = event or {"status": "timeout", "counts": {}}
        if event["status"] == "done":
            return {**event, "expected": expected}
        if self.on_timeout == "fail":
            raise AirflowSensorTimeout(f"human loops still open after {self.wait_timeout:g}s: {event['counts']}")
        hook = self._hook()
        after = dt.datetime.fromisoformat(created_after) if created_after else None
        stopped = 0
        for summary in hook.list_loops(self.flow_definition_arn, created_after=after, name_prefix=prefix):
            if summary["HumanLoopStatus"] == "InProgress":
                try:
                    hook.stop(summary["HumanLoopName"])
                    stopped += 1
                except Exception as e:  # finished or vanished since the listing: nothing to stop
                    code = error_code(e)
                    if code not in STOP_RACE_ERRORS:
                        raise
                    self.log.info("Loop %s ended before it could be stopped (%s).", summary["HumanLoopName"], code)
        self.log.warning("Wait timed out after %gs: stopped %d open loops; they are reported as review_expired.",
                         self.wait_timeout, stopped)
        return {"status": "timeout", "counts": event["counts"], "expected": expected, "stopped": stopped}
