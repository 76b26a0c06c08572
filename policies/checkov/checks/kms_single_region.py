"""CKV_MLPLAT_1: KMS keys are single-region, so key material never leaves the jurisdiction of the data it protects."""

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck


class KmsKeySingleRegion(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure KMS keys are single-region (multi-region replicas carry key material across jurisdictions)",
            id="CKV_MLPLAT_1",
            categories=[CheckCategories.ENCRYPTION],
            supported_resources=["aws_kms_key"],
        )

    def scan_resource_conf(self, conf: dict) -> CheckResult:
        multi_region = conf.get("multi_region", [False])
        value = multi_region[0] if isinstance(multi_region, list) and multi_region else multi_region
        return CheckResult.FAILED if value is True or str(value).lower() == "true" else CheckResult.PASSED


check = KmsKeySingleRegion()
