"""The AWS Load Balancer Controller, installed only to keep `TargetGroupBinding`s in step: the load balancers,
listeners and target groups are declared in Pulumi (components/ingress.py, components/registry_access.py), so the
controller registers pod IPs as targets and never creates or deletes a load balancer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi

from components.eks_cluster import ClusterRef
from components.iam_documents import document
from components.toolkit import RegionEnv, helm_release, irsa_role

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "aws-load-balancer-controller"


@dataclass(frozen=True, kw_only=True)
class LoadBalancerControllerArgs:
    cluster: ClusterRef
    env: RegionEnv
    vpc_id: pulumi.Input[str]
    target_group_prefix: str  # the stack's target groups are named `<prefix>-...`
    system_node_selector: Mapping[str, str] = field(default_factory=lambda: {"mlplat/pool": "system"})


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
        cluster, env = args.cluster, args.env
        role = irsa_role(
            f"{name}-lbc-irsa",
            cluster=cluster,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            env=env,
            purpose="registers pod IPs in the stack's target groups",
            kind="controller",
            policy=pulumi.Output.all(env.partition, env.account_id, cluster.node_security_group_id).apply(
                lambda v: controller_policy(v[0], env.region, v[1], args.target_group_prefix, v[2])
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.release = helm_release(
            f"{name}-lbc",
            "aws-load-balancer-controller",
            namespace=NAMESPACE,
            values={
                "clusterName": cluster.name,
                "region": env.region,
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
