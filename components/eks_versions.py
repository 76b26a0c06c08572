"""Pinned versions of everything the EKS cluster runs, per Kubernetes minor version. Pure data, no pulumi.

EKS add-on versions come from `aws eks describe-addon-versions --kubernetes-version <v>`; the cluster-autoscaler
image follows the Kubernetes minor (its scheduler simulation must match the API server). Bump a row here, never
in a component, so one diff shows what a cluster upgrade changes. Helm charts are pinned in components/toolkit/helm.py.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EksRelease:
    kubernetes_version: str
    addons: dict[str, str]  # EKS add-on name -> pinned add-on version
    cluster_autoscaler_image_tag: str


# Only versions in EKS standard support: a cluster whose version leaves it is billed extended support (6x) or, with
# `upgrade_policy: STANDARD`, upgraded by AWS outside any deploy. 1.33 left standard support in 2026-07; 1.34
# leaves it at the end of 2026-12, so it stays only as the step to 1.35. Sources: the EKS user guide's add-on
# version tables (kube-proxy, CoreDNS) and published pins of vpc-cni 1.21.1 and EBS CSI 1.56.0 ahead of 1.34;
# docs/deploy.md has `aws eks describe-addon-versions` check a row before a deploy uses it.
RELEASES: dict[str, EksRelease] = {
    "1.34": EksRelease(
        "1.34",
        {
            "vpc-cni": "v1.21.1-eksbuild.1",
            "kube-proxy": "v1.34.6-eksbuild.2",
            "coredns": "v1.13.2-eksbuild.4",
            "aws-ebs-csi-driver": "v1.56.0-eksbuild.1",
        },
        "v1.34.0",
    ),
    "1.35": EksRelease(
        "1.35",
        {
            "vpc-cni": "v1.21.1-eksbuild.1",
            "kube-proxy": "v1.35.3-eksbuild.2",
            "coredns": "v1.13.2-eksbuild.4",
            "aws-ebs-csi-driver": "v1.56.0-eksbuild.1",
        },
        "v1.35.0",
    ),
}
DEFAULT_KUBERNETES_VERSION = "1.35"


def release(kubernetes_version: str) -> EksRelease:
    try:
        return RELEASES[kubernetes_version]
    except KeyError:
        known = ", ".join(RELEASES)
        raise KeyError(f"Kubernetes {kubernetes_version} has no pinned add-on versions (known: {known})") from None


def nvidia_ami_parameter(kubernetes_version: str) -> str:
    """The SSM public parameter that names the current EKS-optimized AL2023 NVIDIA AMI for x86_64."""
    return f"/aws/service/eks/optimized-ami/{kubernetes_version}/amazon-linux-2023/x86_64/nvidia/recommended/image_id"
