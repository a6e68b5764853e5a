"""HumanLoopsTrigger: waits in the triggerer for every loop of one run to finish.

It pages ListHumanLoops for the flow definition through the hook (one request per 100 loops)
instead of describing each loop, and counts the run's loops by their shared name prefix. Every
connection setting travels in `serialize()` as one `AwsSettings`, so the triggerer's client talks
to the same endpoint as the worker's (apache/airflow issue 72144).

It ends with exactly one typed event: `done` (every loop finished), `timeout` (the deadline
passed with loops open) or `error` (an error no retry fixes, such as access denied or an unknown
flow definition: waiting two days would not help). A transient error (throttling, a 5xx, the
service unreachable) is logged and the next poll tries again.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator, Literal, TypedDict

from airflow.triggers.base import BaseTrigger, TriggerEvent

from human_review.a2i import count_statuses, finished
from human_review.connection import AwsSettings
from human_review.exceptions import error_code, error_message, is_transient
from human_review.records import WaitPlan


class WaitDone(TypedDict):
    status: Literal["done"]
    counts: dict[str, int]


class WaitTimeout(TypedDict):
    status: Literal["timeout"]
    counts: dict[str, int]


class WaitError(TypedDict):
    status: Literal["error"]
    code: str
    message: str


WaitEvent = WaitDone | WaitTimeout | WaitError


class HumanLoopsTrigger(BaseTrigger):
    def __init__(
        self,
        *,
        flow_definition_arn: str,
        plan: dict[str, Any],
        deadline: float,
        poll_interval: float = 60.0,
        aws: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.flow_definition_arn = flow_definition_arn
        self.plan = WaitPlan.from_dict(plan)
        self.deadline = deadline
        self.poll_interval = poll_interval
        self.aws = AwsSettings.from_dict(aws) if aws is not None else AwsSettings()

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "flow_definition_arn": self.flow_definition_arn,
                "plan": self.plan.to_dict(),
                "deadline": self.deadline,
                "poll_interval": self.poll_interval,
                "aws": self.aws.to_dict(),
            },
        )

    async def count(self, hook: Any) -> dict[str, int]:
        loops = [s async for s in hook.alist_loops(self.flow_definition_arn, created_after=self.plan.created_after_time,
                                                  name_prefix=self.plan.name_prefix)]
        return count_statuses(loops)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = self.aws.human_loop_hook()
        counts: dict[str, int] | None = None
        while True:
            try:
                counts = await self.count(hook)
            except Exception as e:
                if not is_transient(e):
                    self.log.error("ListHumanLoops failed and will not succeed on retry: %s", e)
                    yield TriggerEvent(WaitError(status="error", code=error_code(e), message=error_message(e)))
                    return
                self.log.warning("ListHumanLoops failed, will retry at the next poll: %s", e)
            else:
                done = finished(counts)
                self.log.info("%d of %d loops finished %s", done, self.plan.expected, counts)
                if done >= self.plan.expected:
                    yield TriggerEvent(WaitDone(status="done", counts=counts))
                    return
            if time.time() >= self.deadline:
                yield TriggerEvent(WaitTimeout(status="timeout", counts=counts or {}))
                return
            await asyncio.sleep(min(self.poll_interval, max(0.0, self.deadline - time.time()) + 0.01))
