"""The component toolkit every component builds with: the per-region environment, IRSA roles, the pinned Helm
charts, the KMS grant for log groups and hardened Kubernetes workloads. One place for each, no copies."""

from components.toolkit.env import RegionEnv
from components.toolkit.helm import CHARTS, HelmChart, helm_release
from components.toolkit.iam import ROLE_TAG, ClusterIdentity, OidcIdentity, irsa_role
from components.toolkit.kms import encrypted_log_group, logs_grant
from components.toolkit.network import alias_record, allow_tcp, private_zone
from components.toolkit.workload import (
    Container,
    DisruptionBudget,
    HardenedDeployment,
    Placement,
    WorkloadSpec,
    app_labels,
    deployment,
    pod_spec,
    secret_provider_class,
    service_account,
)

__all__ = [
    "CHARTS",
    "ROLE_TAG",
    "ClusterIdentity",
    "Container",
    "DisruptionBudget",
    "HardenedDeployment",
    "HelmChart",
    "OidcIdentity",
    "Placement",
    "RegionEnv",
    "WorkloadSpec",
    "alias_record",
    "allow_tcp",
    "app_labels",
    "deployment",
    "encrypted_log_group",
    "helm_release",
    "irsa_role",
    "logs_grant",
    "pod_spec",
    "private_zone",
    "secret_provider_class",
    "service_account",
]
