"""The in-cluster add-ons installed by Helm at pinned chart versions: metrics-server, cluster-autoscaler (IRSA,
auto-discovery, a priority expander that prefers spot-heavy pools) and the NVIDIA device plugin on GPU nodes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import iam_documents
from components.capacity import expander_priorities
from components.eks_cluster import ClusterRef
from components.eks_versions import CHARTS, release
from components.node_bootstrap import GPU_TAINT

NAMESPACE = "kube-system"
AUTOSCALER_SERVICE_ACCOUNT = "cluster-autoscaler"


@dataclass(frozen=True, kw_only=True)
class ClusterAddonsArgs:
    cluster: ClusterRef
    region: str
    # (Auto Scaling group name, spot percentage above its on-demand base) of each GPU pool
    spot_preferences: Sequence[tuple[pulumi.Input[str], int]] = ()
    system_node_selector: Mapping[str, str] = field(default_factory=lambda: {"mlplat/pool": "system"})
    tags: Mapping[str, str] = field(default_factory=dict)


class ClusterAddons(pulumi.ComponentResource):
    def __init__(self, name: str, args: ClusterAddonsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplat:index:ClusterAddons", name, None, opts)
        cluster = args.cluster
        child = pulumi.ResourceOptions(parent=self)
        on_cluster = pulumi.ResourceOptions(parent=self, provider=cluster.kubernetes_provider)
        tags = dict(args.tags)
        system = dict(args.system_node_selector)

        def chart_release(
            resource: str, chart_key: str, namespace: str, values: pulumi.Input[dict]
        ) -> k8s.helm.v3.Release:
            chart = CHARTS[chart_key]
            return k8s.helm.v3.Release(
                f"{name}-{resource}",
                name=chart_key,
                chart=chart.chart,
                version=chart.version,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
                namespace=namespace,
                create_namespace=namespace != NAMESPACE,
                values=values,
                opts=on_cluster,
            )

        self.metrics_server = chart_release(
            "metrics-server", "metrics-server", NAMESPACE, {"replicas": 2, "nodeSelector": system}
        )

        role = aws.iam.Role(
            f"{name}-autoscaler-irsa",
            assume_role_policy=pulumi.Output.all(cluster.oidc_provider_arn, cluster.oidc_issuer_url).apply(
                lambda v: iam_documents.irsa_trust(v[0], v[1], NAMESPACE, AUTOSCALER_SERVICE_ACCOUNT)
            ),
            description=f"IRSA: {NAMESPACE}/{AUTOSCALER_SERVICE_ACCOUNT}",
            tags={**tags, "Name": f"{name}-autoscaler-irsa"},
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-autoscaler-irsa-policy",
            role=role.id,
            policy=cluster.name.apply(iam_documents.cluster_autoscaler),
            opts=child,
        )
        spot_shares = [share for _, share in args.spot_preferences]
        priorities = pulumi.Output.all(*[asg for asg, _ in args.spot_preferences]).apply(
            lambda names: expander_priorities([(str(n), s) for n, s in zip(names, spot_shares, strict=True)])
        )
        self.cluster_autoscaler = chart_release(
            "cluster-autoscaler",
            "cluster-autoscaler",
            NAMESPACE,
            {
                "cloudProvider": "aws",
                "awsRegion": args.region,
                "autoDiscovery": {"clusterName": cluster.name},
                "image": {"tag": release(cluster.kubernetes_version).cluster_autoscaler_image_tag},
                "rbac": {
                    "serviceAccount": {
                        "create": True,
                        "name": AUTOSCALER_SERVICE_ACCOUNT,
                        "annotations": {"eks.amazonaws.com/role-arn": role.arn},
                    }
                },
                "extraArgs": {"expander": "priority,least-waste", "balance-similar-node-groups": True},
                "expanderPriorities": priorities,
                "nodeSelector": system,
                "priorityClassName": "system-cluster-critical",
            },
        )

        self.device_plugin = chart_release(
            "nvidia-device-plugin",
            "nvidia-device-plugin",
            "nvidia-device-plugin",
            {
                # Only GPU nodes, and it must tolerate their taint or it never lands there.
                "nodeSelector": {"nvidia.com/gpu.present": "true"},
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {"key": "nvidia.com/gpu.present", "operator": "In", "values": ["true"]}
                                    ]
                                }
                            ]
                        }
                    }
                },
                "tolerations": [{"key": GPU_TAINT.key, "operator": "Exists", "effect": GPU_TAINT.effect}],
                "priorityClassName": "system-node-critical",
            },
        )
        self.autoscaler_role_arn = role.arn
        self.register_outputs({"autoscaler_role_arn": self.autoscaler_role_arn})
