"""The AWS Load Balancer Controller, installed only to keep `TargetGroupBinding`s in step: the load balancers,
listeners and target groups are declared in Pulumi (components/ingress.py, components/registry_access.py), so the
controller registers pod IPs as targets and never creates or deletes a load balancer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.eks_cluster import ClusterRef
from components.eks_versions import CHARTS
from components.iam_documents import document, irsa_trust

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "aws-load-balancer-controller"


@dataclass(frozen=True, kw_only=True)
class LoadBalancerControllerArgs:
    cluster: ClusterRef
    region: str
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    target_group_prefix: str  # the stack's target groups are named `<prefix>-...`
    system_node_selector: Mapping[str, str] = field(default_factory=lambda: {"mlplat/pool": "system"})
    tags: Mapping[str, str] = field(default_factory=dict)


def controller_policy(partition: str, region: str, account: str, target_group_prefix: str, node_sg: str) -> str:
    """A subset of the controller's published policy (kubernetes-sigs/aws-load-balancer-controller,
    docs/install/iam_policy.json): its read actions, target (de)registration on this stack's target groups, and
    rules on the nodes' security group. No action that creates, modifies or deletes a load balancer."""
    return document(
        [
            {
                "Sid": "Describe",
                "Effect": "Allow",
                "Action": [
                    "ec2:DescribeAvailabilityZones",
                    "ec2:DescribeInstances",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeTags",
                    "ec2:DescribeVpcs",
                    "elasticloadbalancing:DescribeListeners",
                    "elasticloadbalancing:DescribeLoadBalancers",
                    "elasticloadbalancing:DescribeTags",
                    "elasticloadbalancing:DescribeTargetGroupAttributes",
                    "elasticloadbalancing:DescribeTargetGroups",
                    "elasticloadbalancing:DescribeTargetHealth",
                ],
                "Resource": "*",
            },
            {
                "Sid": "Targets",
                "Effect": "Allow",
                "Action": ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
                "Resource": (
                    f"arn:{partition}:elasticloadbalancing:{region}:{account}:targetgroup/{target_group_prefix}-*/*"
                ),
            },
            {
                "Sid": "NodeSecurityGroupRules",
                "Effect": "Allow",
                "Action": ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"],
                "Resource": f"arn:{partition}:ec2:{region}:{account}:security-group/{node_sg}",
            },
        ]
    )


class LoadBalancerController(pulumi.ComponentResource):
    def __init__(self, name: str, args: LoadBalancerControllerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplat:index:LoadBalancerController", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cluster = args.cluster
        role = aws.iam.Role(
            f"{name}-lbc-irsa",
            assume_role_policy=pulumi.Output.all(cluster.oidc_provider_arn, cluster.oidc_issuer_url).apply(
                lambda v: irsa_trust(v[0], v[1], NAMESPACE, SERVICE_ACCOUNT)
            ),
            description=f"IRSA: {NAMESPACE}/{SERVICE_ACCOUNT}",
            max_session_duration=3600,
            tags={**args.tags, "Name": f"{name}-lbc-irsa", "mlplat-role": "workload"},
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-lbc-policy",
            role=role.id,
            policy=pulumi.Output.all(args.partition, args.account_id, cluster.node_security_group_id).apply(
                lambda v: controller_policy(v[0], args.region, v[1], args.target_group_prefix, v[2])
            ),
            opts=child,
        )
        chart = CHARTS["aws-load-balancer-controller"]
        self.release = k8s.helm.v3.Release(
            f"{name}-lbc",
            name="aws-load-balancer-controller",
            chart=chart.chart,
            version=chart.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
            namespace=NAMESPACE,
            values={
                "clusterName": cluster.name,
                "region": args.region,
                "vpcId": args.vpc_id,
                "replicaCount": 2,
                "serviceAccount": {
                    "create": True,
                    "name": SERVICE_ACCOUNT,
                    "annotations": {"eks.amazonaws.com/role-arn": role.arn},
                },
                # Only TargetGroupBindings: no IngressClass, and Services of type LoadBalancer are not mutated.
                "createIngressClassResource": False,
                "enableServiceMutatorWebhook": False,
                "nodeSelector": dict(args.system_node_selector),
            },
            opts=pulumi.ResourceOptions(parent=self, provider=cluster.kubernetes_provider),
        )
        self.register_outputs({"role_arn": role.arn})
