"""The EKS cluster of every regional stack, as synthesized from the real program under mocks."""

import json
from pathlib import Path
from typing import Any

from components.config import load_deployment
from components.eks_versions import release
from components.naming import region_code

LOG_TYPES = {"api", "audit", "authenticator", "controllerManager", "scheduler"}


def _of(graph: dict[str, Any], type_token: str) -> list[dict[str, Any]]:
    return [r for r in graph["resources"] if r["type"] == type_token]


def _named(graph: dict[str, Any], type_token: str, name: str) -> dict[str, Any]:
    (resource,) = [r for r in _of(graph, type_token) if r["name"] == name]
    return resource


def _cluster(graph: dict[str, Any]) -> dict[str, Any]:
    (cluster,) = _of(graph, "aws:eks/cluster:Cluster")
    return cluster


def _key_arn(graph: dict[str, Any], key_name: str) -> str:
    key = _named(graph, "aws:kms/key:Key", key_name)
    assert key["inputs"]["enableKeyRotation"] is True and key["inputs"]["multiRegion"] is False
    return f"arn:aws:kms:{graph['region']}:123456789012:key/{key_name}"


def test_endpoint_is_private_and_authentication_uses_access_entries(regional_graphs: dict[str, Any]) -> None:
    for graph in regional_graphs.values():
        inputs = _cluster(graph)["inputs"]
        assert inputs["vpcConfig"]["endpointPrivateAccess"] is True
        assert inputs["vpcConfig"]["endpointPublicAccess"] is False
        assert "publicAccessCidrs" not in inputs["vpcConfig"]
        assert inputs["accessConfig"]["authenticationMode"] == "API"
        assert inputs["name"] == f"{region_code(graph['region'])}-eks"  # the name the subnets are tagged for
        private = {
            s["id"] for s in _of(graph, "aws:ec2/subnet:Subnet") if s["inputs"]["tags"]["mlplat/tier"] == "private"
        }
        assert set(inputs["vpcConfig"]["subnetIds"]) == private


def test_secrets_are_encrypted_with_a_rotating_key(regional_graphs: dict[str, Any]) -> None:
    for graph in regional_graphs.values():
        cluster = _cluster(graph)
        encryption = cluster["inputs"]["encryptionConfig"]
        assert encryption["resources"] == ["secrets"]
        assert encryption["provider"]["keyArn"] == _key_arn(graph, f"{cluster['name']}-secrets-key")
        role_policy = _named(graph, "aws:iam/rolePolicy:RolePolicy", f"{cluster['name']}-cluster-encryption")
        (statement,) = json.loads(role_policy["inputs"]["policy"])["Statement"]
        assert statement["Resource"] == [encryption["provider"]["keyArn"]]


def test_all_control_plane_logs_go_to_an_encrypted_group_created_first(
    regional_graphs: dict[str, Any], project_root: Path
) -> None:
    deployment = load_deployment(project_root)
    for name, graph in regional_graphs.items():
        cluster = _cluster(graph)
        assert set(cluster["inputs"]["enabledClusterLogTypes"]) == LOG_TYPES
        group = _named(graph, "aws:cloudwatch/logGroup:LogGroup", f"{cluster['name']}-logs")
        # EKS writes to exactly this name; had it not existed first, EKS would create it unencrypted, never expiring.
        assert group["inputs"]["name"] == f"/aws/eks/{cluster['inputs']['name']}/cluster"
        assert f"aws:cloudwatch/logGroup:LogGroup::{group['name']}" in cluster["dependsOn"]
        assert group["inputs"]["retentionInDays"] == deployment.regional()[name].cluster.log_retention_days
        assert group["inputs"]["kmsKeyId"] == _key_arn(graph, f"{cluster['name']}-logs-key")
        key_policy = json.loads(_named(graph, "aws:kms/key:Key", f"{cluster['name']}-logs-key")["inputs"]["policy"])
        (logs,) = [s for s in key_policy["Statement"] if s["Principal"].get("Service", "").startswith("logs.")]
        assert logs["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"].endswith(group["inputs"]["name"])


def test_oidc_provider_for_irsa(regional_graphs: dict[str, Any]) -> None:
    for graph in regional_graphs.values():
        (provider,) = _of(graph, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
        assert provider["inputs"]["clientIdLists"] == ["sts.amazonaws.com"]
        assert provider["inputs"]["url"].startswith(f"https://oidc.eks.{graph['region']}.amazonaws.com/id/")


def test_eks_addons_are_pinned_and_ordered_around_the_system_pool(
    regional_graphs: dict[str, Any], project_root: Path
) -> None:
    deployment = load_deployment(project_root)
    for name, graph in regional_graphs.items():
        cluster = _cluster(graph)
        pins = release(deployment.regional()[name].cluster.kubernetes_version).addons
        addons = {a["inputs"]["addonName"]: a for a in _of(graph, "aws:eks/addon:Addon")}
        assert {"vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver"} <= set(addons)
        for addon_name in ("vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver"):
            addon = addons[addon_name]
            assert addon["inputs"]["addonVersion"] == pins[addon_name]
            assert addon["inputs"]["clusterName"] == cluster["inputs"]["name"]
        system_pool = f"mlplat:index:SystemNodePool::{cluster['name']}-system"
        assert addons["coredns"]["dependsOn"] == [system_pool]
        assert addons["aws-ebs-csi-driver"]["dependsOn"] == [system_pool]
        (node_group,) = _of(graph, "aws:eks/nodeGroup:NodeGroup")
        assert f"aws:eks/addon:Addon::{addons['vpc-cni']['name']}" in node_group["dependsOn"]
        assert cluster["inputs"]["bootstrapSelfManagedAddons"] is False
        ebs_config = json.loads(addons["aws-ebs-csi-driver"]["inputs"]["configurationValues"])
        assert ebs_config == {"node": {"tolerateAllTaints": True}}  # its node plugin reaches the GPU nodes
        for addon_name, account in [("aws-ebs-csi-driver", "ebs-csi-controller-sa"), ("vpc-cni", "aws-node")]:
            role_arn = addons[addon_name]["inputs"]["serviceAccountRoleArn"]
            role = _named(graph, "aws:iam/role:Role", role_arn.rsplit("/", 1)[1])
            trust = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
            assert f"system:serviceaccount:kube-system:{account}" in trust.values()


def test_security_groups_take_nothing_from_cidrs_except_the_runner_and_node_egress(
    regional_graphs: dict[str, Any], project_root: Path
) -> None:
    deployment = load_deployment(project_root)
    for graph in regional_graphs.values():
        cluster = _cluster(graph)
        prefix = cluster["name"]
        cluster_sg, node_sg = f"{prefix}-cluster-sg-id", f"{prefix}-node-sg-id"
        assert cluster["inputs"]["vpcConfig"]["securityGroupIds"] == [cluster_sg]
        rules = [
            r["inputs"]
            for r in _of(graph, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
            if r["inputs"]["securityGroupId"] in {cluster_sg, node_sg}
        ]
        # The only CIDRs: the deploy runner's (config `cluster.deploy_path.runner_cidrs`), into the API on 443.
        runner_cidrs = [str(c) for c in deployment.regional()[graph["stack"]].cluster.deploy_path.runner_cidrs]
        from_cidrs = [r for r in rules if "cidrIpv4" in r or "cidrIpv6" in r]
        assert [(r["securityGroupId"], r["fromPort"], r["toPort"], r["cidrIpv4"]) for r in from_cidrs] == [
            (cluster_sg, 443, 443, cidr) for cidr in runner_cidrs
        ]
        into_cluster = [r for r in rules if r["securityGroupId"] == cluster_sg and "cidrIpv4" not in r]
        assert [(r["fromPort"], r["toPort"], r["referencedSecurityGroupId"]) for r in into_cluster] == [
            (443, 443, node_sg)
        ]
        from_cluster = {r["fromPort"] for r in rules if r.get("referencedSecurityGroupId") == cluster_sg}
        assert {443, 10250} <= from_cluster
        egress = [
            r["inputs"]
            for r in _of(graph, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
            if r["inputs"]["securityGroupId"] in {cluster_sg, node_sg}
        ]
        assert [e["securityGroupId"] for e in egress] == [node_sg]  # the control plane's own SG has no egress


def test_kubeconfig_names_the_region_and_feeds_the_provider(regional_graphs: dict[str, Any]) -> None:
    for graph in regional_graphs.values():
        cluster = _cluster(graph)
        (provider,) = _of(graph, "pulumi:providers:kubernetes")
        config = provider["inputs"]["kubeconfig"]
        config = json.loads(config) if isinstance(config, str) else config
        args = config["users"][0]["user"]["exec"]["args"]
        assert args[args.index("--region") + 1] == graph["region"]
        assert args[args.index("--cluster-name") + 1] == cluster["inputs"]["name"]
        assert config["clusters"][0]["cluster"]["server"].startswith("https://")
        assert config["clusters"][0]["cluster"]["certificate-authority-data"]
