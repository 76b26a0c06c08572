"""Workloads, ClusterAddons and Mlflow built one at a time under mocks, with arguments no stack file uses."""

from __future__ import annotations

import json
from typing import Any

import pulumi

from components.cluster_addons import ClusterAddons, ClusterAddonsArgs
from components.config import MlflowConfig, WorkloadsConfig
from components.iam_documents import document
from components.mlflow import Mlflow, MlflowArgs
from components.toolkit import CHARTS
from components.workloads import Workloads, WorkloadsArgs
from tests.components.mock_program import build, cluster_ref, env

FEATURE_READ = document(
    [{"Sid": "FeatureRead", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::features/*"}]
)


def _workloads(provider: pulumi.ProviderResource, **settings: Any) -> None:
    cluster = cluster_ref()
    csi = pulumi.CustomResource("test:index:Csi", "csi-driver", {})
    Workloads(
        "t",
        WorkloadsArgs(
            cluster=cluster,
            env=env(team="fraud"),
            settings=WorkloadsConfig(**settings),
            tracking_uri="http://mlflow.example:5000",
            residency={"jurisdictions": {"eu": ["eu-central-1"]}, "tenants": {}},
            redis_host="redis.example",
            redis_token_secret_arn="arn:aws:secretsmanager:eu-central-1:123456789012:secret:token",
            feature_read_policy=FEATURE_READ,
            model_bucket=pulumi.Output.from_input("custom-models-bucket"),
            access_log_bucket="access-logs",
            pushgateway_url="http://pushgateway:9091",
            after=[csi],
        ),
        opts=pulumi.ResourceOptions(provider=provider),
    )


def test_serving_has_its_own_role_with_the_feature_read_policy_and_its_own_access() -> None:
    built = build(lambda p: _workloads(p, model_name="churn", serving_replicas=3))
    role = built.one("aws:iam/role:Role", "t-serving-irsa")["inputs"]
    assert role["name"] == "mlplat-t-serving" and role["tags"]["mlplat-role"] == "workload"
    (trust,) = json.loads(role["assumeRolePolicy"])["Statement"]
    assert "system:serviceaccount:mlplat:serving" in trust["Condition"]["StringEquals"].values()
    statements = {s["Sid"]: s for s in built.policy("t-serving-irsa")["Statement"]}
    assert statements["FeatureRead"]["Resource"] == "arn:aws:s3:::features/*"
    assert statements["ReadModels"]["Resource"] == "arn:aws:s3:::custom-models-bucket/*"
    assert statements["WritePredictionLog"]["Resource"].endswith("/predictions/churn/*")
    # nothing is attached to another component's role any more
    assert built.names("aws:iam/rolePolicy:RolePolicy") == {"t-serving-irsa", "t-drift-irsa"}
    account = built.one("kubernetes:core/v1:ServiceAccount", "t-serving-sa")["inputs"]["metadata"]
    assert account["name"] == "serving"
    deployment = built.one("kubernetes:apps/v1:Deployment", "t-serving")
    assert deployment["inputs"]["spec"]["replicas"] == 3
    assert deployment["inputs"]["spec"]["template"]["spec"]["serviceAccountName"] == "serving"
    assert "test:index:Csi::csi-driver" in deployment["dependsOn"]


def test_prediction_logs_are_encrypted_with_the_workloads_own_key() -> None:
    built = build(_workloads)
    (key,) = built.of("aws:kms/key:Key")
    assert key["name"] == "t-predictions-key"
    assert key["inputs"]["tags"]["mlplat/residency"] == "eu-central-1"
    (sse,) = built.of("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    (rule,) = sse["inputs"]["rules"]
    assert rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"].endswith(":key/t-predictions-key")
    for role in ("t-serving-irsa", "t-drift-irsa"):
        (grant,) = [s for s in built.policy(role)["Statement"] if s["Sid"] == "PredictionKey"]
        assert grant["Resource"].endswith(":key/t-predictions-key"), role


def test_workloads_install_no_cluster_wide_driver() -> None:
    built = build(_workloads)
    assert built.of("kubernetes:helm.sh/v3:Release") == []


def test_the_csi_driver_is_a_cluster_addon_that_keeps_its_former_state() -> None:
    def program(provider: pulumi.ProviderResource) -> None:
        ClusterAddons(
            "t-addons",
            ClusterAddonsArgs(
                cluster=cluster_ref(), env=env(), system_node_selector={"pool": "ops"}, former_csi_parent="t"
            ),
            opts=pulumi.ResourceOptions(provider=provider),
        )

    built = build(program)
    releases = {r["name"]: r for r in built.of("kubernetes:helm.sh/v3:Release")}
    for key in ("secrets-store-csi-driver", "secrets-store-csi-driver-provider-aws"):
        release = releases[f"t-addons-{key}"]
        assert release["inputs"]["version"] == CHARTS[key].version
        assert release["aliases"] == [{"name": f"t-{key}", "parent": "mlplat:index:Workloads::t"}]
    assert releases["t-addons-metrics-server"]["inputs"]["values"]["nodeSelector"] == {"pool": "ops"}
    assert built.one("aws:iam/role:Role", "t-addons-autoscaler-irsa")["inputs"]["tags"]["mlplat-role"] == "controller"


def test_mlflow_reads_its_artifact_bucket_from_an_output() -> None:
    def program(provider: pulumi.ProviderResource) -> None:
        Mlflow(
            "t",
            MlflowArgs(
                cluster=cluster_ref(),
                env=env(),
                vpc_id="vpc-1",
                intra_subnet_ids=["subnet-1", "subnet-2"],
                artifact_bucket=pulumi.Output.from_input("global-models"),
                settings=MlflowConfig(enabled=True, artifact_prefix="registry/v2", replicas=3),
            ),
            opts=pulumi.ResourceOptions(provider=provider),
        )

    built = build(program)
    statements = {s["Sid"]: s for s in built.policy("t-mlflow-irsa")["Statement"]}
    assert statements["ReadWriteArtifacts"]["Resource"] == "arn:aws:s3:::global-models/registry/v2/*"
    spec = built.one("kubernetes:apps/v1:Deployment", "t-mlflow")["inputs"]["spec"]
    env_vars = {e["name"]: e["value"] for e in spec["template"]["spec"]["containers"][0]["env"]}
    assert env_vars["MLFLOW_ARTIFACTS_DESTINATION"] == "s3://global-models/registry/v2"
    assert built.one("kubernetes:policy/v1:PodDisruptionBudget", "t-mlflow-pdb")["inputs"]["spec"]["minAvailable"] == 1
