"""CKV_MLPLAT_2: an autoscaling group that mixes in spot keeps an on-demand base and rebalances capacity."""

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


class AsgOnDemandFloor(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure a spot-mixed autoscaling group keeps an on-demand base capacity of at least 1 and "
            "capacity rebalancing on",
            id="CKV_MLPLAT_2",
            categories=[CheckCategories.GENERAL_SECURITY],
            supported_resources=["aws_autoscaling_group"],
        )

    def scan_resource_conf(self, conf: dict) -> CheckResult:
        policy = _first(conf.get("mixed_instances_policy"))
        if not isinstance(policy, dict):
            return CheckResult.UNKNOWN
        distribution = _first(policy.get("instances_distribution")) or {}
        share = _first(distribution.get("on_demand_percentage_above_base_capacity", [100]))
        if share is None or float(share) >= 100:
            return CheckResult.PASSED  # no spot
        base = _first(distribution.get("on_demand_base_capacity", [0])) or 0
        rebalance = _first(conf.get("capacity_rebalance", [False]))
        return CheckResult.PASSED if float(base) >= 1 and rebalance is True else CheckResult.FAILED


check = AsgOnDemandFloor()
