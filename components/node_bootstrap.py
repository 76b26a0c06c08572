"""How nodes and clients reach an EKS cluster: the AL2023 `nodeadm` NodeConfig user data for self-managed nodes
and the kubeconfig for the deployer. Pure functions, no pulumi.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

MIME_BOUNDARY = "MLPLATBOUNDARY"


@dataclass(frozen=True, kw_only=True)
class Taint:
    key: str
    value: str
    effect: str  # NoSchedule | PreferNoSchedule | NoExecute

    def __str__(self) -> str:
        return f"{self.key}={self.value}:{self.effect}"


GPU_TAINT = Taint(key="nvidia.com/gpu", value="true", effect="NoSchedule")


def node_config(
    *,
    cluster_name: str,
    endpoint: str,
    certificate_authority: str,
    service_cidr: str,
    labels: Mapping[str, str],
    taints: Sequence[Taint] = (),
) -> str:
    """The `node.eks.aws/v1alpha1` NodeConfig that `nodeadm` reads on AL2023: the node joins without calling the
    EKS API, and registers with its labels and taints from the first kubelet start (no unschedulable window)."""
    flags = [f"--node-labels={','.join(f'{k}={v}' for k, v in sorted(labels.items()))}"]
    if taints:
        flags.append(f"--register-with-taints={','.join(str(t) for t in taints)}")
    config = {
        "apiVersion": "node.eks.aws/v1alpha1",
        "kind": "NodeConfig",
        "spec": {
            "cluster": {
                "name": cluster_name,
                "apiServerEndpoint": endpoint,
                "certificateAuthority": certificate_authority,
                "cidr": service_cidr,
            },
            "kubelet": {"flags": flags},
        },
    }
    return "---\n" + yaml.safe_dump(config, sort_keys=False)


def user_data(document: str) -> str:
    """The MIME multi-part user data AL2023 expects, base64-encoded for a launch template."""
    body = "\n".join(
        [
            "MIME-Version: 1.0",
            f'Content-Type: multipart/mixed; boundary="{MIME_BOUNDARY}"',
            "",
            f"--{MIME_BOUNDARY}",
            "Content-Type: application/node.eks.aws",
            "",
            document,
            "",
            f"--{MIME_BOUNDARY}--",
            "",
        ]
    )
    return base64.b64encode(body.encode()).decode()


def decode_node_config(encoded_user_data: str) -> dict[str, Any]:
    """The NodeConfig inside launch-template user data (for tests and policy checks)."""
    body = base64.b64decode(encoded_user_data).decode()
    part = body.split(f"--{MIME_BOUNDARY}")[1]
    loaded: dict[str, Any] = yaml.safe_load(part.split("\n\n", 1)[1])
    return loaded


def kubeconfig(*, cluster_name: str, endpoint: str, certificate_authority: str, region: str) -> str:
    """A kubeconfig that authenticates with `aws eks get-token`. It names the region: without `--region` the AWS
    CLI falls back to the caller's default region and fails for every other region (pulumi-eks#1038)."""
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region, "--output", "json"],
            "interactiveMode": "Never",
        }
    }
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": cluster_name,
                    "cluster": {"server": endpoint, "certificate-authority-data": certificate_authority},
                }
            ],
            "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
            "current-context": cluster_name,
            "users": [{"name": cluster_name, "user": user}],
        },
        indent=2,
    )
