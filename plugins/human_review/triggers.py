"""HumanLoopsTrigger: waits in the triggerer for every loop of one run to finish.

It pages ListHumanLoops for the flow definition (one request per 100 loops) instead of
describing each loop, and counts the run's loops by their shared name prefix. Every connection
setting (conn id, region, verify, botocore config) travels in `serialize()` so the triggerer's
client talks to the same endpoint as the worker's (apache/airflow issue 72144).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any, AsyncIterator

from airflow.triggers.base import BaseTrigger, TriggerEvent

from human_review.a2i import count_statuses, finished



class HumanLoopsTrigger(BaseTrigger):
    def __init__(
        self,
        *,
        flow_definition_arn: str,
        name_prefix: str,
        expected: int,
        created_after: str | None,
        deadline: float,
        poll_interval: float = 60.0,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.flow_definition_arn = flow_definition_arn
        self.name_prefix = name_prefix
        self.expected = expected
        self.created_after = created_after
        self.deadline = deadline
        self.poll_interval = poll_interval
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "flow_definition_arn": self.flow_definition_arn,
                "name_prefix": self.name_prefix,
                "expected": self.expected,
                "created_after": self.created_after,
                "deadline": self.deadline,
                "poll_interval": self.poll_interval,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
                "verify": self.verify,
                "botocore_config": self.botocore_config,
            },
        )

    def _hook(self):
        from human_review.hooks import human_loop_hook

        return human_loop_hook(self.aws_conn_id, self.region_name, self.verify, self.botocore_config)

    async def count(self, client: Any) -> dict[str, int]:
        kwargs: dict[str, Any] = {"FlowDefinitionArn": self.flow_definition_arn, "SortOrder": "Ascending"}
        if self.created_after:
            kwargs["CreationTimeAfter"] = dt.datetime.fromisoformat(self.created_after)
        ours = []
        async for page in client.get_paginator("list_human_loops").paginate(**kwargs):
            ours += [s for s in page.get("HumanLoopSummaries", []) if s["HumanLoopName"].startswith(self.name_prefix)]
        return count_statuses(ours)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = self._hook()
        while True:
            try:
                async with await hook.get_async_conn() as client:
                    counts = await self.count(client)
            except Exception as e:  # a blip in the service must not end the wait
                self.log.warning("ListHumanLoops failed, will retry: %s", e)
                counts = None
            if counts is not None:
                done = finished(counts)
                self.log.info("%d of %d loops finished %s", done, self.expected, counts)
                if done >= self.expected:
                    yield TriggerEvent({"status": "done", "counts": counts})
                    return
            if time.time() >= self.deadline:
                yield TriggerEvent({"status": "timeout", "counts": counts or {}})
                return
            await asyncio.sleep(min(self.poll_interval, max(0.0, self.deadline - time.time()) + 0.01))
