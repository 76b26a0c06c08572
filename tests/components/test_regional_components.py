"""FeatureStore, Observability and InterruptionHandler built one at a time under mocks, with non-default arguments."""

from __future__ import annotations

import json

import pulumi

from components.config import FeatureStoreConfig, ObservabilityConfig
from components.feature_store import FeatureStore, FeatureStoreArgs
from components.interruption_handler import InterruptionHandler, InterruptionHandlerArgs
from components.observability import Observability, ObservabilityArgs
from components.toolkit import CHARTS, ClusterIdentity
from tests.components.mock_program import Built, build, cluster_ref, env


def _feature_store(cluster: ClusterIdentity | None) -> Built:
    def program(provider: pulumi.ProviderResource) -> None:
        FeatureStore(
            "fs",
            FeatureStoreArgs(
                env=env("eu-west-1", stage="test"),
                tenants=["t2", "t1"],
                vpc_id="vpc-1",
                intra_subnet_ids=["subnet-a", "subnet-b"],
                s3_endpoint_id="vpce-1",
                settings=FeatureStoreConfig(cache_clusters=3, break_glass_role="glass"),
                cluster=cluster,
            ),
            opts=pulumi.ResourceOptions(provider=provider),
        )

    return build(program, region="eu-west-1")


def test_without_a_cluster_the_store_makes_no_roles() -> None:
    built = _feature_store(None)
    assert built.of("aws:iam/role:Role") == []
    redis = built.one("aws:elasticache/replicationGroup:ReplicationGroup", "fs-features")["inputs"]
    assert redis["numCacheClusters"] == 3 and redis["tags"]["mlplat/tenants"] == "t1 t2"
    assert redis["tags"]["stage"] == "test"


def test_reader_and_writer_roles_carry_the_exported_policies() -> None:
    identity = ClusterIdentity(
        oidc_provider_arn="arn:aws:iam::123456789012:oidc-provider/oidc.example/id/Z",
        oidc_issuer_url="https://oidc.example/id/Z",
    )
    built = _feature_store(identity)
    reader = built.policy("fs-feature-reader")
    writer = built.policy("fs-feature-writer")
    read_actions = {
        a for s in reader["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert "s3:PutObject" not in read_actions and "s3:GetObject" in read_actions
    assert any("s3:PutObject" in s["Action"] for s in writer["Statement"] if isinstance(s["Action"], list))
    role = built.one("aws:iam/role:Role", "fs-feature-reader")["inputs"]
    assert role["name"] == "mlplat-fs-feature-reader" and role["tags"]["mlplat-role"] == "workload"
    bucket = built.one("aws:s3/bucketPolicy:BucketPolicy", "fs-features-offline-policy")
    assert "arn:aws:iam::123456789012:role/glass" in bucket["inputs"]["policy"]


def test_observability_remote_write_role_and_pinned_charts() -> None:
    def program(provider: pulumi.ProviderResource) -> None:
        Observability(
            "obs",
            ObservabilityArgs(
                cluster=cluster_ref(),
                env=env(),
                settings=ObservabilityConfig(retention_days=7, storage_gib=120),
                system_node_selector={"pool": "ops"},
            ),
            opts=pulumi.ResourceOptions(provider=provider),
        )

    built = build(program)
    (statement,) = built.policy("obs-amp-remote-write")["Statement"]
    assert statement["Action"] == "aps:RemoteWrite" and statement["Resource"].startswith("arn:aws:aps:")
    releases = {r["inputs"]["name"]: r["inputs"] for r in built.of("kubernetes:helm.sh/v3:Release")}
    assert set(releases) == {"kube-prometheus-stack", "prometheus-pushgateway", "dcgm-exporter"}
    for key, release in releases.items():
        assert release["version"] == CHARTS[key].version
    spec = releases["kube-prometheus-stack"]["values"]["prometheus"]["prometheusSpec"]
    assert spec["retention"] == "7d" and spec["nodeSelector"] == {"pool": "ops"}
    key = json.loads(built.one("aws:kms/key:Key", "obs-obs-key")["inputs"]["policy"])
    (logs,) = [s for s in key["Statement"] if s["Principal"] == {"Service": "logs.eu-central-1.amazonaws.com"}]
    assert logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"].endswith(":log-group:/mlplat/obs/*")


def test_interruption_handler_role_is_a_controller_scoped_to_its_pools() -> None:
    def program(provider: pulumi.ProviderResource) -> None:
        InterruptionHandler(
            "nth",
            InterruptionHandlerArgs(
                cluster=cluster_ref(),
                env=env(),
                asg_names=["pool-a"],
                asg_arns=[
                    "arn:aws:autoscaling:eu-central-1:123456789012:autoScalingGroup:x:autoScalingGroupName/pool-a"
                ],
                node_selector={"pool": "ops"},
            ),
            opts=pulumi.ResourceOptions(provider=provider),
        )

    built = build(program)
    role = built.one("aws:iam/role:Role", "nth-irsa")["inputs"]
    assert role["tags"]["mlplat-role"] == "controller" and "name" not in role
    statements = {s["Sid"]: s for s in built.policy("nth-irsa")["Statement"]}
    assert statements["CompleteLifecycleActions"]["Resource"] == [
        "arn:aws:autoscaling:eu-central-1:123456789012:autoScalingGroup:x:autoScalingGroupName/pool-a"
    ]
    release = built.one("kubernetes:helm.sh/v3:Release", "nth-nth")["inputs"]
    assert release["version"] == CHARTS["aws-node-termination-handler"].version
    assert release["values"]["nodeSelector"] == {"pool": "ops"}
