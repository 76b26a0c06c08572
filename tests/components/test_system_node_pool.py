"""The system pool: an on-demand AL2023 managed node group behind an IMDSv2, encrypted-gp3 launch template."""

from pathlib import Path
from typing import Any

from components.config import load_deployment


def _of(graph: dict[str, Any], type_token: str) -> list[dict[str, Any]]:
    return [r for r in graph["resources"] if r["type"] == type_token]


def test_on_demand_al2023_with_imdsv2_and_encrypted_gp3(regional_graphs: dict[str, Any], project_root: Path) -> None:
    deployment = load_deployment(project_root)
    for name, graph in regional_graphs.items():
        system = deployment.regional()[name].cluster.system_pool
        (group,) = _of(graph, "aws:eks/nodeGroup:NodeGroup")
        inputs = group["inputs"]
        assert inputs["capacityType"] == "ON_DEMAND"
        assert inputs["amiType"] == "AL2023_x86_64_STANDARD"
        assert inputs["instanceTypes"] == system.instance_types
        assert inputs["scalingConfig"] == {"minSize": system.min_size, "desiredSize": system.desired_size,
                                           "maxSize": system.max_size}  # fmt: skip
        assert inputs["labels"] == {"mlplat/pool": "system"}
        (template,) = [
            t for t in _of(graph, "aws:ec2/launchTemplate:LaunchTemplate") if t["id"] == inputs["launchTemplate"]["id"]
        ]
        assert "imageId" not in template["inputs"] and "userData" not in template["inputs"]  # EKS bootstraps AL2023
        assert template["inputs"]["metadataOptions"]["httpTokens"] == "required"
        assert template["inputs"]["metadataOptions"]["httpPutResponseHopLimit"] == 1
        (root,) = template["inputs"]["blockDeviceMappings"]
        ebs = root["ebs"]
        assert (ebs["volumeType"], ebs["encrypted"], ebs["volumeSize"]) == ("gp3", "true", system.disk_size_gib)


def test_every_launch_template_and_node_group_enforces_imdsv2(regional_graphs: dict[str, Any]) -> None:
    for graph in regional_graphs.values():
        templates = {t["id"]: t for t in _of(graph, "aws:ec2/launchTemplate:LaunchTemplate")}
        assert len(templates) >= 3  # the system pool and two GPU pools
        for template in templates.values():
            assert template["inputs"]["metadataOptions"]["httpTokens"] == "required"
        for group in _of(graph, "aws:eks/nodeGroup:NodeGroup"):
            assert group["inputs"]["launchTemplate"]["id"] in templates
        for group in _of(graph, "aws:autoscaling/group:Group"):
            assert group["inputs"]["mixedInstancesPolicy"]["launchTemplate"]["launchTemplateSpecification"][
                "launchTemplateId"] in templates  # fmt: skip
