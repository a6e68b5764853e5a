"""WaitForHumanLoopsSensor: one deferrable wait for every human loop a run started.

Before deferring it counts once: if every loop already finished (a retry, a rerun) it returns at
once. While deferred it holds no worker slot; the triggerer pages ListHumanLoops. The trigger ends
with a typed event (triggers.py): `done`; `timeout`, where `on_timeout` decides (`stop` stops the
loops still open, which the report shows as review_expired, and lets the run finish; `fail` keeps
them open and `stop-and-fail` stops them, and both let the report write what is known, then the
report task fails the run: a wait that fails its own task would leave no report at all); or `error`, which fails the task with the service's message. A missing event fails
loudly too: guessing "timeout" would stop every open loop of the run.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, Sequence

from airflow.sdk import BaseSensorOperator, conf

from human_review.a2i import STOP_RACE_ERRORS, count_statuses, finished
from human_review.connection import AwsSettings
from human_review.exceptions import HumanLoopWaitError, error_code
from human_review.records import WaitPlan

ON_TIMEOUT = ("stop", "fail", "stop-and-fail")


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
        if on_timeout not in ON_TIMEOUT:
            raise ValueError(f"on_timeout must be one of {ON_TIMEOUT}, not {on_timeout!r}")
        if wait_timeout <= 0:
            raise ValueError("wait_timeout must be positive")
        kwargs.setdefault("timeout", wait_timeout)
        super().__init__(**kwargs)
        self.routed = routed
        self.flow_definition_arn = flow_definition_arn
        self.name_prefix = name_prefix
        self.on_timeout = on_timeout
        self.wait_timeout = wait_timeout
        self.aws = AwsSettings.of(aws_conn_id, region_name, verify, botocore_config)
        self.deferrable = deferrable

    def _plan(self) -> WaitPlan:
        """What the route step reported, summed over its batches."""
        return WaitPlan.from_routes(self.routed or [], self.name_prefix)

    def _counts(self, plan: WaitPlan) -> dict[str, int]:
        hook = self.aws.human_loop_hook()
        return count_statuses(hook.list_loops(self.flow_definition_arn, created_after=plan.created_after_time,
                                              name_prefix=plan.name_prefix))

    def _deadline(self, plan: WaitPlan) -> float:
        """When the wait ends: `wait_timeout` after the run's newest loop started. A retried or cleared
        wait task keeps the run's deadline instead of starting a fresh one (loop creation times do not
        move), and a rerun days later that starts new loops gives them the full wait instead of
        stopping them at once for a deadline its old loops set."""
        newest = plan.newest_loop or (plan.created_after and
                                      (plan.created_after_time + dt.timedelta(seconds=1)).isoformat())
        if newest:
            return dt.datetime.fromisoformat(newest).timestamp() + self.wait_timeout
        return time.time() + self.wait_timeout

    def _progress(self, plan: WaitPlan) -> tuple[dict[str, int], bool]:
        counts = self._counts(plan)
        self.log.info("%d of %d human loops finished: %s", finished(counts), plan.expected, counts)
        return counts, finished(counts) >= plan.expected

    def poke(self, context: Any) -> bool:
        return self._progress(self._plan())[1]

    def execute(self, context: Any) -> dict[str, Any]:
        plan = self._plan()
        if plan.expected == 0:
            self.log.info("No human loops to wait for%s.", " (dry run)" if plan.dry_run else "")
            return {"status": "done", "counts": {}, "expected": 0}
        if not self.deferrable:
            super().execute(context)
            return {"status": "done", "counts": self._counts(plan), "expected": plan.expected}
        counts, done = self._progress(plan)
        if done:
            return {"status": "done", "counts": counts, "expected": plan.expected}
        from human_review.triggers import HumanLoopsTrigger

        deadline = self._deadline(plan)
        self.defer(
            trigger=HumanLoopsTrigger(flow_definition_arn=self.flow_definition_arn, plan=plan.to_dict(),
                                      deadline=deadline, poll_interval=self.poke_interval, aws=self.aws.to_dict()),
            method_name="execute_complete",
            # the trigger ends the wait itself at its deadline; this is the backstop
            timeout=dt.timedelta(seconds=max(0.0, deadline - time.time()) + 2 * self.poke_interval + 300),
        )
        raise AssertionError("unreachable: defer() raises")

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        if not event or event.get("status") not in ("done", "timeout", "error"):
            raise HumanLoopWaitError(f"the wait's trigger ended without a valid event ({event!r}); "
                                     "no loop was stopped. Clear the task to wait again.")
        plan = self._plan()
        if event["status"] == "done":
            return {**event, "expected": plan.expected}
        if event["status"] == "error":
            err = HumanLoopWaitError(f"waiting for the run's loops failed: {event['code']}: {event['message']}")
            err.code = event["code"]
            raise err
        stopped = self._stop_open_loops(plan) if self.on_timeout in ("stop", "stop-and-fail") else 0
        fail = self.on_timeout in ("fail", "stop-and-fail")
        self.log.warning("Wait timed out after %gs: %s; the report shows them as review_expired%s.",
                         self.wait_timeout, f"stopped {stopped} open loops" if stopped or not fail
                         else "the open loops stay open", ", then fails the run" if fail else "")
        return {"status": "timeout", "counts": event["counts"], "expected": plan.expected, "stopped": stopped,
                "fail_run": fail, "on_timeout": self.on_timeout}

    def _stop_open_loops(self, plan: WaitPlan) -> int:
        hook = self.aws.human_loop_hook()
        stopped = 0
        for summary in hook.list_loops(self.flow_definition_arn, created_after=plan.created_after_time,
                                       name_prefix=plan.name_prefix):
            if summary["HumanLoopStatus"] != "InProgress":
                continue
            try:
                hook.stop(summary["HumanLoopName"])
                stopped += 1
            except Exception as e:  # finished or vanished since the listing: nothing to stop
                code = error_code(e)
                if code not in STOP_RACE_ERRORS:
                    raise
                self.log.info("Loop %s ended before it could be stopped (%s).", summary["HumanLoopName"], code)
        return stopped
