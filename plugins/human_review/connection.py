"""One carrier for every setting that decides where an AWS client talks to.

The sensor builds it from its arguments, hands it to the trigger whole (`to_dict()` inside the
trigger's `serialize()`), and both get their hook from it: a setting cannot be dropped at the
defer boundary (apache/airflow issue 72144, where deferrable AWS operators lost region, verify
and botocore config on the way to the triggerer). Mirrors providers-amazon's `AwsHookParams`.
Imports nothing heavy: the sensor builds one at DAG parse.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from human_review.a2i import DEFAULT_CLIENT_CONFIG

if TYPE_CHECKING:
    from human_review.hooks import HumanLoopHook


@dataclass(frozen=True)
class AwsSettings:
    aws_conn_id: str | None = "aws_default"
    region_name: str | None = None
    verify: bool | str | None = None
    botocore_config: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_CLIENT_CONFIG))

    @classmethod
    def of(cls, aws_conn_id: str | None = "aws_default", region_name: str | None = None,
           verify: bool | str | None = None, botocore_config: dict[str, Any] | None = None) -> AwsSettings:
        """From the keyword arguments operators take (None for botocore_config: A2I's retry defaults)."""
        return cls(aws_conn_id, region_name, verify,
                   dict(botocore_config) if botocore_config is not None else dict(DEFAULT_CLIENT_CONFIG))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AwsSettings:
        return cls.of(**data)

    def human_loop_hook(self) -> HumanLoopHook:
        from botocore.config import Config

        from human_review.hooks import HumanLoopHook

        return HumanLoopHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify,
                             config=Config(**self.botocore_config))
