"""Helm add-ons: pinned charts on the cluster's own provider, the device plugin only on GPU nodes, and the
autoscaler's priority expander preferring the spot-heavy pools."""

import json
from pathlib import Path
from typing import Any

from components.capacity import expander_priorities
from components.config import load_deployment
from components.toolkit import CHARTS


def _of(graph: dict[str, Any], type_token: str) -> list[dict[str, Any]]:
    return [r for r in graph["resources"] if r["type"] == type_token]


def _releases(graph: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["inputs"]["chart"]: r for r in _of(graph, "kubernetes:helm.sh/v3:Release")}


def test_every_release_is_pinned_and_on_this_clusters_provider(regional_graphs: dict[str, Any]) -> None:
    for graph in regional_graphs.values():
        (provider,) = _of(graph, "pulumi:providers:kubernetes")
        (cluster,) = _of(graph, "aws:eks/cluster:Cluster")
        assert provider["parent"] == f"mlplat:index:EksCluster::{cluster['name']}"
        for release in _of(graph, "kubernetes:helm.sh/v3:Release"):
            assert release["provider"] == provider["name"], release["name"]  # never an ambient kubeconfig
        releases = _releases(graph)
        assert set(CHARTS) <= set(releases)
        for chart in CHARTS:
            release = releases[chart]
            assert release["inputs"]["version"] == CHARTS[chart].version
            assert release["inputs"]["repositoryOpts"]["repo"] == CHARTS[chart].repository
            assert release["provider"] == provider["name"]
            assert release["region"] == graph["region"]


def test_device_plugin_lands_only_on_gpu_nodes(regional_graphs: dict[str, Any]) -> None:
    for graph in regional_graphs.values():
        values = _releases(graph)["nvidia-device-plugin"]["inputs"]["values"]
        assert values["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in values["tolerations"]


def test_autoscaler_discovers_this_cluster_and_prefers_spot(
    regional_graphs: dict[str, Any], project_root: Path
) -> None:
    deployment = load_deployment(project_root)
    for name, graph in regional_graphs.items():
        (cluster,) = _of(graph, "aws:eks/cluster:Cluster")
        values = _releases(graph)["cluster-autoscaler"]["inputs"]["values"]
        assert values["autoDiscovery"]["clusterName"] == cluster["inputs"]["name"]
        assert values["awsRegion"] == graph["region"]
        assert values["extraArgs"]["expander"].split(",")[0] == "priority"
        assert values["image"]["tag"].startswith(f"v{deployment.regional()[name].cluster.kubernetes_version}.")
        priorities = values["expanderPriorities"]
        pools = deployment.regional()[name].gpu_pools
        ranked = sorted(pools, key=lambda p: -p.mix().spot_percentage_above_base)
        positions = [priorities.index(f"gpu-{p.name}") for p in ranked]
        assert positions == sorted(positions), priorities  # the spottier pool ranks first
        assert priorities.rstrip().endswith("1:\n  - '.*'")
        role_name = values["rbac"]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"].rsplit("/", 1)[1]
        (role,) = [r for r in _of(graph, "aws:iam/role:Role") if r["name"] == role_name]
        trust = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
        assert "system:serviceaccount:kube-system:cluster-autoscaler" in trust.values()


def test_expander_priorities_rank_by_spot_share() -> None:
    text = expander_priorities([("a-inference", 70), ("a-training", 80), ("b-training", 80)])
    assert text == "90:\n  - '^a-training$'\n  - '^b-training$'\n80:\n  - '^a-inference$'\n1:\n  - '.*'\n"
