"""Every Helm chart the platform installs, pinned in one table, and the one way to install them.

Bump a row here, never in a component, so one diff shows every chart a release changes. Versions are published
releases of each chart's own repository (its `index.yaml`), not checked against a live repository from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s


@dataclass(frozen=True)
class HelmChart:
    chart: str
    version: str
    repository: str | None  # None: `chart` is an OCI reference


CHARTS: dict[str, HelmChart] = {
    # v2.13 controller; only its TargetGroupBinding reconciler is used (components/load_balancer_controller.py).
    "aws-load-balancer-controller": HelmChart(
        "aws-load-balancer-controller", "1.13.3", "https://aws.github.io/eks-charts"
    ),
    "aws-node-termination-handler": HelmChart(
        "aws-node-termination-handler", "0.21.0", "https://aws.github.io/eks-charts"
    ),
    "cluster-autoscaler": HelmChart("cluster-autoscaler", "9.43.1", "https://kubernetes.github.io/autoscaler"),
    "dcgm-exporter": HelmChart("dcgm-exporter", "3.6.1", "https://nvidia.github.io/dcgm-exporter/helm-charts"),
    "kube-prometheus-stack": HelmChart(
        "kube-prometheus-stack", "65.1.1", "https://prometheus-community.github.io/helm-charts"
    ),
    "metrics-server": HelmChart("metrics-server", "3.12.2", "https://kubernetes-sigs.github.io/metrics-server/"),
    "nvidia-device-plugin": HelmChart("nvidia-device-plugin", "0.17.1", "https://nvidia.github.io/k8s-device-plugin"),
    "prometheus-pushgateway": HelmChart(
        "prometheus-pushgateway", "2.14.0", "https://prometheus-community.github.io/helm-charts"
    ),
    "secrets-store-csi-driver": HelmChart(
        "secrets-store-csi-driver", "1.4.7", "https://kubernetes-sigs.github.io/secrets-store-csi-driver/charts"
    ),
    "secrets-store-csi-driver-provider-aws": HelmChart(
        "secrets-store-csi-driver-provider-aws", "0.3.9", "https://aws.github.io/secrets-store-csi-driver-provider-aws"
    ),
}


def helm_release(
    resource_name: str,
    chart_key: str,
    *,
    namespace: str,
    values: pulumi.Input[dict],
    opts: pulumi.ResourceOptions,
    create_namespace: bool = False,
) -> k8s.helm.v3.Release:
    """Installs the pinned chart `chart_key` as a release of the same name. `opts` must carry the cluster's
    Kubernetes provider (and the component as parent)."""
    try:
        chart = CHARTS[chart_key]
    except KeyError:
        raise KeyError(f"chart {chart_key!r} is not pinned in components/toolkit/helm.py CHARTS") from None
    return k8s.helm.v3.Release(
        resource_name,
        name=chart_key,
        chart=chart.chart,
        version=chart.version,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository) if chart.repository else None,
        namespace=namespace,
        create_namespace=True if create_namespace else None,
        values=values,
        opts=opts,
    )
