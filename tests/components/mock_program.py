"""Builds one component (or any small program) under `pulumi.runtime.set_mocks`, in this process, and returns
the recorded resources: the per-component counterpart of the whole-stack `graphs` fixture."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.eks_cluster import ClusterRef
from components.toolkit import RegionEnv
from mlplat.graph import Graph, Resource
from mlplat.synth import MOCK_ACCOUNT_ID, GraphRecorder, run_under_mocks

REGION = "eu-central-1"


@dataclass(frozen=True)
class Built:
    """The graph of the program: `of(type)` lists resources of a type, `one(type, name)` finds one."""

    graph: Graph

    def of(self, type_token: str) -> list[Resource]:
        return [r for r in self.graph.resources if r.type == type_token]

    def one(self, type_token: str, name: str) -> Resource:
        matches = [r for r in self.of(type_token) if r["name"] == name]
        assert len(matches) == 1, (
            f"{type_token} {name}: {len(matches)} found; have {[r['name'] for r in self.of(type_token)]}"
        )
        return matches[0]

    def policy(self, name: str) -> dict[str, Any]:
        return json.loads(self.one("aws:iam/rolePolicy:RolePolicy", name)["inputs"]["policy"])

    def names(self, type_token: str) -> set[str]:
        return {r["name"] for r in self.of(type_token)}


def build(
    program: Callable[[aws.Provider], None],
    *,
    region: str = REGION,
    stack: str = "component-test",
    stack_outputs: Mapping[str, Mapping[str, Any]] | None = None,
) -> Built:
    """Runs `program(provider)` with a regional provider; fails like `mlplat synth` on default providers."""
    recorder = GraphRecorder(stack, stack_outputs)
    run_under_mocks(recorder, lambda: program(aws.Provider(f"aws-{region}", region=region)), stack=stack)
    return Built(recorder.graph("mlplat", region, "eu", "regional"))


def env(region: str = REGION, **tags: str) -> RegionEnv:
    return RegionEnv(region=region, account_id=MOCK_ACCOUNT_ID, partition="aws", tags={"owner": "ml", **tags})


def cluster_ref(name: str = "test-eks", region: str = REGION) -> ClusterRef:
    """A cluster as components see it, with a Kubernetes provider of its own (no EKS resources)."""
    issuer = f"https://oidc.eks.{region}.amazonaws.com/id/TEST"
    return ClusterRef(
        name=pulumi.Output.from_input(name),
        kubernetes_version="1.33",
        endpoint=pulumi.Output.from_input(f"https://{name}.example"),
        certificate_authority=pulumi.Output.from_input("Y2E="),
        service_cidr="172.20.0.0/16",
        oidc_provider_arn=pulumi.Output.from_input(
            f"arn:aws:iam::{MOCK_ACCOUNT_ID}:oidc-provider/{issuer.removeprefix('https://')}"
        ),
        oidc_issuer_url=pulumi.Output.from_input(issuer),
        node_security_group_id=pulumi.Output.from_input("sg-nodes"),
        node_volume_key_arn=pulumi.Output.from_input(f"arn:aws:kms:{region}:{MOCK_ACCOUNT_ID}:key/volumes"),
        kubernetes_provider=k8s.Provider(f"{name}-k8s", kubeconfig="{}"),
    )
