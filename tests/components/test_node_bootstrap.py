"""The AL2023 nodeadm user data and the deployer's kubeconfig."""

import json

from components.node_bootstrap import GPU_TAINT, decode_node_config, kubeconfig, node_config, user_data


def test_node_config_round_trips_through_user_data() -> None:
    document = node_config(
        cluster_name="euw1-eks", endpoint="https://x", certificate_authority="Q0E=", service_cidr="172.20.0.0/16",
        labels={"mlplat/pool": "inference"}, taints=[GPU_TAINT],
    )  # fmt: skip
    config = decode_node_config(user_data(document))
    assert config["apiVersion"] == "node.eks.aws/v1alpha1"
    assert config["spec"]["kubelet"]["flags"] == [
        "--node-labels=mlplat/pool=inference",
        "--register-with-taints=nvidia.com/gpu=true:NoSchedule",
    ]


def test_kubeconfig_builder_always_passes_region() -> None:
    config = json.loads(
        kubeconfig(cluster_name="c", endpoint="https://e", certificate_authority="Q0E=", region="eu-central-1")
    )
    assert config["users"][0]["user"]["exec"]["args"][-4:] == ["--region", "eu-central-1", "--output", "json"]
