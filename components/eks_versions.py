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


RELEASES: dict[str, EksRelease] = {
    "1.32": EksRelease(
        "1.32",
        {
            "vpc-cni": "v1.19.5-eksbuild.3",
            "kube-proxy": "v1.32.0-eksbuild.2",
            "coredns": "v1.11.4-eksbuild.2",
            "aws-ebs-csi-driver": "v1.46.0-eksbuild.1",
        },
        "v1.32.0",
    ),
    "1.33": EksRelease(
        "1.33",
        {
            "vpc-cni": "v1.19.5-eksbuild.3",
            "kube-proxy": "v1.33.0-eksbuild.2",
            "coredns": "v1.12.1-eksbuild.2",
            "aws-ebs-csi-driver": "v1.46.0-eksbuild.1",
        },
        "v1.33.0",
    ),
}
DEFAULT_KUBERNETES_VERSION = "1.33"


def release(kubernetes_version: str) -> EksRelease:
    try:
        return RELEASES[kubernetes_version]
    except KeyError:
        known = ", ".join(RELEASES)
        raise KeyError(f"Kubernetes {kubernetes_version} has no pinned add-on versions (known: {known})") from None


def nvidia_ami_parameter(kubernetes_version: str) -> str:
    """The SSM public parameter that names the current EKS-optimized AL2023 NVIDIA AMI for x86_64."""
    return f"/aws/service/eks/optimized-ami/{kubernetes_version}/amazon-linux-2023/x86_64/nvidia/recommended/image_id"
