"""The system node pool: an EKS managed node group of on-demand AL2023 nodes that runs the cluster's add-ons."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.capacity import PoolSize
from components.node_launch import encrypted_root_volume, node_metadata_options, node_role
from components.toolkit import RegionEnv


@dataclass(frozen=True, kw_only=True)
class SystemNodePoolArgs:
    cluster_name: pulumi.Input[str]
    kubernetes_version: str
    subnet_ids: Sequence[pulumi.Input[str]]
    node_security_group_id: pulumi.Input[str]
    volume_key_arn: pulumi.Input[str]
    env: RegionEnv
    instance_types: Sequence[str] = ("m6i.large", "m7i.large")
    size: PoolSize = field(default_factory=lambda: PoolSize(min_size=2, desired_size=3, max_size=6))
    disk_size_gib: int = 50
    labels: Mapping[str, str] = field(default_factory=lambda: {"mlplat/pool": "system"})
    wait_for: Sequence[pulumi.Resource] = ()  # what nodes need before they can become Ready (the VPC CNI add-on)


class SystemNodePool(pulumi.ComponentResource):
    """On-demand only (add-ons must not be interrupted), rolled 33% at a time by EKS."""

    def __init__(self, name: str, args: SystemNodePoolArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplat:index:SystemNodePool", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.env.tags)
        role, attachments = node_role(name, args.env, child)
        template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            description=f"{name}: IMDSv2, encrypted gp3 root; EKS picks the AL2023 AMI and bootstraps it",
            metadata_options=node_metadata_options(),
            block_device_mappings=[encrypted_root_volume(args.disk_size_gib, args.volume_key_arn)],
            vpc_security_group_ids=[args.node_security_group_id],
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags={**tags, "Name": name})
                for kind in ("instance", "volume")
            ],
            update_default_version=True,
            tags={**tags, "Name": f"{name}-lt"},
            opts=child,
        )
        self.node_group = aws.eks.NodeGroup(
            name,
            cluster_name=args.cluster_name,
            version=args.kubernetes_version,
            node_role_arn=role.arn,
            subnet_ids=list(args.subnet_ids),
            capacity_type="ON_DEMAND",
            ami_type="AL2023_x86_64_STANDARD",
            instance_types=list(args.instance_types),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=args.size.min_size, desired_size=args.size.desired_size, max_size=args.size.max_size
            ),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable_percentage=33),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                id=template.id, version=template.latest_version.apply(str)
            ),
            labels=dict(args.labels),
            tags={**tags, "Name": name},
            # cluster-autoscaler owns the desired size once the group exists.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[*attachments, *args.wait_for], ignore_changes=["scalingConfig.desiredSize"]
            ),
        )
        self.node_role_arn = role.arn
        self.node_group_name = self.node_group.node_group_name
        self.register_outputs({"node_role_arn": self.node_role_arn, "launch_template_id": template.id})
