"""The frozen per-region environment every regional component is built in: account, partition, region, tags."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import pulumi


@dataclass(frozen=True, kw_only=True)
class RegionEnv:
    """Where a component's resources go and how they are tagged. Made once per stack by the composition, passed to
    every component instead of each Args class repeating `region`, `account_id`, `partition` and `tags`."""

    region: str
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str] = "aws"
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", MappingProxyType(dict(self.tags)))

    def tagged(self, **extra: str) -> dict[str, str]:
        """The environment's tags plus `extra` (a new dict: Pulumi inputs are never the shared mapping)."""
        return {**self.tags, **extra}

    def with_tags(self, extra: Mapping[str, str]) -> RegionEnv:
        return dataclasses.replace(self, tags={**self.tags, **extra})

    def in_region(self, region: str) -> RegionEnv:
        """The same account and tags in another region (e.g. the model bucket replicas of the global stack)."""
        return dataclasses.replace(self, region=region)

    def arn(self, service: str, resource: str, *, regional: bool = True) -> pulumi.Output[str]:
        """`arn:<partition>:<service>:<region>:<account>:<resource>`; `regional=False` leaves the region empty (IAM)."""
        region = self.region if regional else ""
        return pulumi.Output.all(self.partition, self.account_id).apply(
            lambda v: f"arn:{v[0]}:{service}:{region}:{v[1]}:{resource}"
        )

    def log_group_arn(self, name: str) -> pulumi.Output[str]:
        """The ARN of a CloudWatch log group by name (a trailing `*` makes it a pattern for a grant condition)."""
        return self.arn("logs", f"log-group:{name}")
