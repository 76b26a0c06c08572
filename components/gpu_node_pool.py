"""A GPU node pool: a self-managed Auto Scaling group whose mixed-instances policy buys an on-demand base plus a
spot share across several GPU instance types, with nodes tainted for GPU work and drained before termination."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import instance_catalogue
from components.capacity import CapacityMix, PoolSize, Purpose
from components.eks_cluster import ClusterRef
from components.eks_versions import nvidia_ami_parameter
from components.node_bootstrap import GPU_TAINT, node_config, user_data
from components.node_launch import encrypted_root_volume, node_metadata_options, node_role
from components.toolkit import RegionEnv

TERMINATION_HOOK = "drain-before-terminate"
NTH_MANAGED_TAG = "aws-node-termination-handler/managed"


@dataclass(frozen=True, kw_only=True)
class GpuNodePoolArgs:
    cluster: ClusterRef
    pool_name: str
    purpose: Purpose
    subnet_ids: Sequence[pulumi.Input[str]]
    instance_types: Sequence[str]
    mix: CapacityMix
    size: PoolSize
    env: RegionEnv
    root_volume_gib: int = 200
    drain_timeout_seconds: int = 300  # how long termination waits for the handler to drain the node


class GpuNodePool(pulumi.ComponentResource):
    """Managed node groups are all on-demand or all spot (containers-roadmap#1297); only a self-managed group's
    mixed-instances policy gives an on-demand floor with spot above it, so that is what this builds."""

    def __init__(self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplat:index:GpuNodePool", name, None, opts)
        types = [instance_catalogue.get(t) for t in args.instance_types]
        gpu_counts = {t.gpus for t in types}
        if 0 in gpu_counts or len(gpu_counts) != 1:
            raise ValueError(f"{name}: instance types need GPUs, the same count each (got {sorted(gpu_counts)})")
        if args.purpose == "inference" and args.mix.on_demand_base < 1:
            raise ValueError(f"{name}: an inference pool keeps at least one on-demand node")
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.env.tags)
        cluster = args.cluster

        role, attachments = node_role(name, args.env, child)
        profile = aws.iam.InstanceProfile(
            f"{name}-profile", role=role.name, tags={**tags, "Name": f"{name}-profile"}, opts=child
        )
        # Self-managed nodes join through an EC2_LINUX access entry (EKS creates these for managed groups only).
        access = aws.eks.AccessEntry(
            f"{name}-access", cluster_name=cluster.name, principal_arn=role.arn, type="EC2_LINUX", opts=child
        )

        labels = {
            "mlplat/pool": args.pool_name,
            "mlplat/purpose": args.purpose,
            "nvidia.com/gpu.present": "true",
        }
        ami = aws.ssm.get_parameter_output(
            name=nvidia_ami_parameter(cluster.kubernetes_version), opts=pulumi.InvokeOutputOptions(parent=self)
        )
        bootstrap = pulumi.Output.all(cluster.name, cluster.endpoint, cluster.certificate_authority).apply(
            lambda v: user_data(
                node_config(
                    cluster_name=v[0],
                    endpoint=v[1],
                    certificate_authority=v[2],
                    service_cidr=cluster.service_cidr,
                    labels=labels,
                    taints=[GPU_TAINT],
                )
            )
        )
        template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            description=f"{name}: EKS AL2023 NVIDIA AMI, IMDSv2, encrypted gp3 root, GPU taint",
            image_id=ami.value,
            iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(arn=profile.arn),
            vpc_security_group_ids=[cluster.node_security_group_id],
            metadata_options=node_metadata_options(),
            block_device_mappings=[encrypted_root_volume(args.root_volume_gib, cluster.node_volume_key_arn)],
            user_data=bootstrap,
            monitoring=aws.ec2.LaunchTemplateMonitoringArgs(enabled=True),
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags={**tags, "Name": name})
                for kind in ("instance", "volume")
            ],
            update_default_version=True,
            tags={**tags, "Name": f"{name}-lt"},
            opts=child,
        )

        gpus = types[0].gpus
        node_template = "k8s.io/cluster-autoscaler/node-template"
        static_tags = {
            "Name": name,
            "mlplat/pool": args.pool_name,
            "mlplat/purpose": args.purpose,
            NTH_MANAGED_TAG: "true",  # the termination handler drains only instances carrying this tag
            "k8s.io/cluster-autoscaler/enabled": "true",
            # What a node of this group will look like, so the autoscaler can scale it up from zero.
            **{f"{node_template}/label/{key}": value for key, value in labels.items()},
            f"{node_template}/taint/{GPU_TAINT.key}": f"{GPU_TAINT.value}:{GPU_TAINT.effect}",
            f"{node_template}/resources/nvidia.com/gpu": str(gpus),
        }
        group_tags = [
            aws.autoscaling.GroupTagArgs(key=key, value=value, propagate_at_launch=key in {"Name", NTH_MANAGED_TAG})
            for key, value in static_tags.items()
        ]
        group_tags += [
            aws.autoscaling.GroupTagArgs(
                key=cluster.name.apply(lambda n: f"k8s.io/cluster-autoscaler/{n}"),
                value="owned",
                propagate_at_launch=False,
            ),
            aws.autoscaling.GroupTagArgs(
                key=cluster.name.apply(lambda n: f"kubernetes.io/cluster/{n}"), value="owned", propagate_at_launch=True
            ),
        ]
        self.group = aws.autoscaling.Group(
            f"{name}-asg",
            vpc_zone_identifiers=list(args.subnet_ids),
            min_size=args.size.min_size,
            max_size=args.size.max_size,
            desired_capacity=args.size.desired_size,
            capacity_rebalance=True,  # launch a replacement on a rebalance recommendation, before the 2-minute notice
            mixed_instances_policy=aws.autoscaling.GroupMixedInstancesPolicyArgs(
                instances_distribution=aws.autoscaling.GroupMixedInstancesPolicyInstancesDistributionArgs(
                    on_demand_base_capacity=args.mix.on_demand_base,
                    on_demand_percentage_above_base_capacity=args.mix.on_demand_percentage_above_base,
                    on_demand_allocation_strategy="lowest-price",
                    spot_allocation_strategy="price-capacity-optimized",
                ),
                launch_template=aws.autoscaling.GroupMixedInstancesPolicyLaunchTemplateArgs(
                    launch_template_specification=aws.autoscaling.GroupMixedInstancesPolicyLaunchTemplateLaunchTemplateSpecificationArgs(
                        launch_template_id=template.id, version=template.latest_version.apply(str)
                    ),
                    overrides=[
                        aws.autoscaling.GroupMixedInstancesPolicyLaunchTemplateOverrideArgs(instance_type=t)
                        for t in args.instance_types
                    ],
                ),
            ),
            # The handler cordons and drains, then completes this hook; without it the instance would just vanish.
            initial_lifecycle_hooks=[
                aws.autoscaling.GroupInitialLifecycleHookArgs(
                    name=TERMINATION_HOOK,
                    lifecycle_transition="autoscaling:EC2_INSTANCE_TERMINATING",
                    heartbeat_timeout=args.drain_timeout_seconds,
                    default_result="CONTINUE",
                )
            ],
            health_check_type="EC2",
            health_check_grace_period=300,
            default_instance_warmup=300,
            enabled_metrics=[
                aws.autoscaling.Metric.GROUP_DESIRED_CAPACITY,
                aws.autoscaling.Metric.GROUP_IN_SERVICE_INSTANCES,
                aws.autoscaling.Metric.GROUP_TOTAL_INSTANCES,
            ],
            tags=group_tags,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[access, *attachments],
                ignore_changes=["desiredCapacity"],  # cluster-autoscaler owns it after creation
            ),
        )

        self.asg_name = self.group.name
        self.asg_arn = self.group.arn
        self.node_role_arn = role.arn
        self.spot_percentage_above_base = args.mix.spot_percentage_above_base
        self.register_outputs({"asg_name": self.asg_name, "asg_arn": self.asg_arn, "node_role_arn": self.node_role_arn})
