"""The in-cluster add-ons installed by Helm at pinned chart versions: metrics-server, cluster-autoscaler (IRSA,
auto-discovery, a priority expander that prefers spot-heavy pools), the NVIDIA device plugin on GPU nodes and the
Secrets Store CSI driver with its AWS provider (mounts Secrets Manager secrets as files for MLflow and serving)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components import iam_documents
from components.capacity import expander_priorities
from components.eks_cluster import ClusterRef
from components.eks_versions import release
from components.node_bootstrap import GPU_TAINT
from components.toolkit import RegionEnv, helm_release, irsa_role

NAMESPACE = "kube-system"
AUTOSCALER_SERVICE_ACCOUNT = "cluster-autoscaler"


@dataclass(frozen=True, kw_only=True)
class ClusterAddonsArgs:
    cluster: ClusterRef
    env: RegionEnv
    # (Auto Scaling group name, spot percentage above its on-demand base) of each GPU pool
    spot_preferences: Sequence[tuple[pulumi.Input[str], int]] = ()
    system_node_selector: Mapping[str, str] = field(default_factory=lambda: {"mlplat/pool": "system"})
    # The Workloads component installed the CSI driver before it became an add-on; its releases keep their state.
    former_csi_parent: str | None = None


class ClusterAddons(pulumi.ComponentResource):
    def __init__(self, name: str, args: ClusterAddonsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplat:index:ClusterAddons", name, None, opts)
        cluster = args.cluster
        on_cluster = pulumi.ResourceOptions(parent=self, provider=cluster.kubernetes_provider)
        system = dict(args.system_node_selector)

        def chart_release(
            resource: str, chart_key: str, namespace: str, values: pulumi.Input[dict]
        ) -> k8s.helm.v3.Release:
            return helm_release(
                f"{name}-{resource}",
                chart_key,
                namespace=namespace,
                values=values,
                opts=on_cluster,
                create_namespace=namespace != NAMESPACE,
            )

        self.metrics_server = chart_release(
            "metrics-server", "metrics-server", NAMESPACE, {"replicas": 2, "nodeSelector": system}
        )

        role = irsa_role(
            f"{name}-autoscaler-irsa",
            cluster=cluster,
            namespace=NAMESPACE,
            service_account=AUTOSCALER_SERVICE_ACCOUNT,
            env=args.env,
            purpose="resizes the node groups this cluster owns",
            policy=cluster.name.apply(iam_documents.cluster_autoscaler),
            kind="controller",
            former_policy_name=f"{name}-autoscaler-irsa-policy",
            opts=pulumi.ResourceOptions(parent=self),
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
                "awsRegion": args.env.region,
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
        self.secrets_store_csi = self._secrets_store_csi(name, args, on_cluster)
        self.autoscaler_role_arn = role.arn
        self.register_outputs({"autoscaler_role_arn": self.autoscaler_role_arn})

    def _secrets_store_csi(
        self, name: str, args: ClusterAddonsArgs, on_cluster: pulumi.ResourceOptions
    ) -> list[k8s.helm.v3.Release]:
        """The driver (no Kubernetes Secret sync: files only, rotated) and the AWS provider, which fetches objects
        with the pod's own IRSA role."""
        values: dict[str, dict] = {
            "secrets-store-csi-driver": {"syncSecret": {"enabled": False}, "enableSecretRotation": True},
            "secrets-store-csi-driver-provider-aws": {"secrets-store-csi-driver": {"install": False}},
        }
        # Its former parent's URN, spelled out: the Workloads component at the top of this stack.
        former_parent = (
            f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::mlplat:index:Workloads::{args.former_csi_parent}"
            if args.former_csi_parent
            else None
        )
        releases = []
        for key, chart_values in values.items():
            aliases = (
                [pulumi.Alias(name=f"{args.former_csi_parent}-{key}", parent=former_parent)] if former_parent else None
            )
            releases.append(
                helm_release(
                    f"{name}-{key}",
                    key,
                    namespace=NAMESPACE,
                    values=chart_values,
                    opts=pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(aliases=aliases)),
                )
            )
        return releases
