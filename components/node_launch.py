"""Launch-template settings every node pool shares: IMDSv2 with one hop, an encrypted gp3 root, minimal policies."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.iam_documents import service_trust
from components.toolkit import ROLE_TAG, RegionEnv

# What a node needs and nothing more: join the cluster and pull images. The VPC CNI has its own IRSA role.
NODE_MANAGED_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly")


def node_metadata_options() -> aws.ec2.LaunchTemplateMetadataOptionsArgs:
    """IMDSv2 only, one hop: pods cannot reach the node's credentials through the metadata service."""
    return aws.ec2.LaunchTemplateMetadataOptionsArgs(
        http_endpoint="enabled",
        http_tokens="required",
        http_put_response_hop_limit=1,
        instance_metadata_tags="disabled",
    )


def encrypted_root_volume(size_gib: int, key_arn: pulumi.Input[str]) -> aws.ec2.LaunchTemplateBlockDeviceMappingArgs:
    return aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
        device_name="/dev/xvda",  # the AL2023 EKS AMIs' root device
        ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
            volume_size=size_gib,
            volume_type="gp3",
            iops=3000,
            throughput=125,
            encrypted="true",
            kms_key_id=key_arn,
            delete_on_termination="true",
        ),
    )


def managed_policy_arn(partition: pulumi.Input[str], policy: str) -> pulumi.Output[str]:
    return pulumi.Output.from_input(partition).apply(lambda p: f"arn:{p}:iam::aws:policy/{policy}")


def node_role(
    name: str, env: RegionEnv, opts: pulumi.ResourceOptions
) -> tuple[aws.iam.Role, list[aws.iam.RolePolicyAttachment]]:
    """The EC2 role of a pool's nodes, with exactly the managed policies in NODE_MANAGED_POLICIES."""
    role = aws.iam.Role(
        f"{name}-node-role",
        assume_role_policy=service_trust("ec2.amazonaws.com"),
        description=f"Nodes of the {name} pool",
        # The ECR repository policies let roles tagged mlplat-role=node pull (components/container_registry.py).
        tags=env.tagged(**{"Name": f"{name}-node-role", ROLE_TAG: "node"}),
        opts=opts,
    )
    attachments = [
        aws.iam.RolePolicyAttachment(
            f"{name}-{policy}", role=role.name, policy_arn=managed_policy_arn(env.partition, policy), opts=opts
        )
        for policy in NODE_MANAGED_POLICIES
    ]
    return role, attachments
