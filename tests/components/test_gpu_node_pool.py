"""GPU pools as synthesized: the capacity mix from config reaches each Auto Scaling group exactly."""

from pathlib import Path
from typing import Any

import pytest

from components import instance_catalogue
from components.config import GpuPoolConfig, load_deployment
from components.naming import region_code
from components.node_bootstrap import decode_node_config
from mlplat.synth import MOCK_ACCOUNT_ID


def _of(graph: dict[str, Any], type_token: str) -> list[dict[str, Any]]:
    return [r for r in graph["resources"] if r["type"] == type_token]


def _named(graph: dict[str, Any], type_token: str, name: str) -> dict[str, Any]:
    (resource,) = [r for r in _of(graph, type_token) if r["name"] == name]
    return resource


def _tags(inputs: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    return {t["key"]: (t["value"], t["propagateAtLaunch"]) for t in inputs["tags"]}


@pytest.fixture(scope="module")
def pools(regional_graphs: dict[str, Any], project_root: Path) -> list[tuple[dict[str, Any], GpuPoolConfig, str]]:
    """(stack graph, pool config, component name) for every GPU pool of every regional stack."""
    deployment = load_deployment(project_root)
    found = []
    for name, graph in regional_graphs.items():
        stack = deployment.regional()[name]
        assert {p.purpose for p in stack.gpu_pools} == {"inference", "training"}, name
        found += [(graph, pool, f"{region_code(stack.region)}-gpu-{pool.name}") for pool in stack.gpu_pools]
    return found


def test_the_mix_reaches_the_group_exactly_as_configured(pools: list[Any]) -> None:
    for graph, pool, name in pools:
        group = _named(graph, "aws:autoscaling/group:Group", f"{name}-asg")["inputs"]
        distribution = group["mixedInstancesPolicy"]["instancesDistribution"]
        mix = pool.mix()
        assert distribution["onDemandBaseCapacity"] == mix.on_demand_base == pool.on_demand_base
        assert distribution["onDemandPercentageAboveBaseCapacity"] == pool.on_demand_percentage_above_base
        assert distribution["spotAllocationStrategy"] == "price-capacity-optimized"
        assert (group["minSize"], group["desiredCapacity"], group["maxSize"]) == (
            pool.min_size, pool.desired_size, pool.max_size)  # fmt: skip
        assert group["capacityRebalance"] is True
        if pool.purpose == "inference":
            assert distribution["onDemandBaseCapacity"] >= 1 and group["minSize"] >= 1


def test_several_gpu_types_from_several_families(pools: list[Any]) -> None:
    for graph, pool, name in pools:
        group = _named(graph, "aws:autoscaling/group:Group", f"{name}-asg")["inputs"]
        types = [o["instanceType"] for o in group["mixedInstancesPolicy"]["launchTemplate"]["overrides"]]
        assert types == pool.instance_types
        assert len(set(types)) >= 3 and len(instance_catalogue.families(types)) >= 2
        assert all(instance_catalogue.get(t).gpus >= 1 for t in types)


def test_launch_template_ami_imds_and_encrypted_root(pools: list[Any]) -> None:
    for graph, pool, name in pools:
        template = _named(graph, "aws:ec2/launchTemplate:LaunchTemplate", f"{name}-lt")
        group = _named(graph, "aws:autoscaling/group:Group", f"{name}-asg")["inputs"]
        spec = group["mixedInstancesPolicy"]["launchTemplate"]["launchTemplateSpecification"]
        assert spec == {"launchTemplateId": template["id"], "version": "1"}
        inputs = template["inputs"]
        assert inputs["imageId"] == "ami-0mock1234567890ab"  # the mocked SSM parameter of the NVIDIA AL2023 AMI
        assert inputs["metadataOptions"]["httpTokens"] == "required"
        assert inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1
        (root,) = inputs["blockDeviceMappings"]
        assert root["ebs"]["volumeType"] == "gp3" and root["ebs"]["encrypted"] == "true"
        assert root["ebs"]["volumeSize"] == pool.root_volume_gib
        cluster_prefix = name.split("-gpu-")[0]
        assert (
            root["ebs"]["kmsKeyId"]
            == f"arn:aws:kms:{graph['region']}:{MOCK_ACCOUNT_ID}:key/{cluster_prefix}-eks-volumes-key"
        )
        assert inputs["vpcSecurityGroupIds"] == [f"{cluster_prefix}-eks-node-sg-id"]


def test_nodes_join_with_the_gpu_taint_and_labels(pools: list[Any]) -> None:
    for graph, pool, name in pools:
        template = _named(graph, "aws:ec2/launchTemplate:LaunchTemplate", f"{name}-lt")
        config = decode_node_config(template["inputs"]["userData"])
        assert config["kind"] == "NodeConfig"
        cluster = config["spec"]["cluster"]
        assert cluster["name"].endswith("-eks") and cluster["apiServerEndpoint"].startswith("https://")
        assert cluster["cidr"] == "172.20.0.0/16"
        flags = config["spec"]["kubelet"]["flags"]
        assert "--register-with-taints=nvidia.com/gpu=true:NoSchedule" in flags
        labels = next(f for f in flags if f.startswith("--node-labels="))
        assert f"mlplat/pool={pool.name}" in labels and f"mlplat/purpose={pool.purpose}" in labels
        assert "nvidia.com/gpu.present=true" in labels


def test_autoscaler_discovery_tags_and_termination_hook(pools: list[Any]) -> None:
    for graph, pool, name in pools:
        group = _named(graph, "aws:autoscaling/group:Group", f"{name}-asg")["inputs"]
        tags = _tags(group)
        cluster_name = f"{name.split('-gpu-')[0]}-eks"
        assert tags["k8s.io/cluster-autoscaler/enabled"][0] == "true"
        assert tags[f"k8s.io/cluster-autoscaler/{cluster_name}"][0] == "owned"
        gpus = instance_catalogue.get(pool.instance_types[0]).gpus
        assert tags["k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu"][0] == str(gpus)
        assert tags["k8s.io/cluster-autoscaler/node-template/taint/nvidia.com/gpu"][0] == "true:NoSchedule"
        assert tags["aws-node-termination-handler/managed"] == ("true", True)  # on the instances NTH inspects
        (hook,) = group["initialLifecycleHooks"]
        assert hook["lifecycleTransition"] == "autoscaling:EC2_INSTANCE_TERMINATING"
        assert hook["defaultResult"] == "CONTINUE" and hook["heartbeatTimeout"] >= 120


def test_node_role_has_only_the_policies_nodes_need(pools: list[Any]) -> None:
    for graph, _, name in pools:
        role = _named(graph, "aws:iam/role:Role", f"{name}-node-role")
        attached = {
            a["inputs"]["policyArn"].rsplit("/", 1)[1]
            for a in _of(graph, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
            if a["inputs"]["role"] == role["name"]
        }
        assert attached == {"AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly"}
        assert not [
            p for p in _of(graph, "aws:iam/rolePolicy:RolePolicy") if p["inputs"]["role"] == f"{role['name']}-id"
        ]
        entry = _named(graph, "aws:eks/accessEntry:AccessEntry", f"{name}-access")["inputs"]
        assert entry["type"] == "EC2_LINUX"
        assert entry["principalArn"] == f"arn:aws:iam::{MOCK_ACCOUNT_ID}:role/{role['name']}"


def test_the_ami_is_the_eks_al2023_nvidia_image_read_through_the_regional_provider(
    regional_graphs: dict[str, Any], project_root: Path
) -> None:
    deployment = load_deployment(project_root)
    for name, graph in regional_graphs.items():
        version = deployment.regional()[name].cluster.kubernetes_version
        reads = [i for i in graph["invokes"] if i["token"] == "aws:ssm/getParameter:getParameter"]
        assert len(reads) == len(deployment.regional()[name].gpu_pools)
        for read in reads:
            assert read["args"]["name"] == (
                f"/aws/service/eks/optimized-ami/{version}/amazon-linux-2023/x86_64/nvidia/recommended/image_id"
            )
            assert read["provider"] == f"aws-{graph['region']}"
