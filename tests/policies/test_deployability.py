"""The deployability family (issue 19): clean on every synthesized stack, and each rule fires on that stack's graph
edited to bring back the defect it exists for."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from policies.access import condition_holds
from policies.engine import evaluate
from policies.rules import RULES
from policies.rules.deployability import DAEMONSET_CHARTS, FAMILY
from policies.settings import PolicySettings

Graph = dict[str, Any]
DEPLOYABILITY = [rule for rule in RULES if rule.family == FAMILY]


def findings(graph: Graph, rule_id: str | None = None) -> list[tuple[str, str, str]]:
    rules = [r for r in DEPLOYABILITY if rule_id is None or r.id == rule_id]
    return [(v.rule, v.resource_name, v.message) for v in evaluate(graph, rules, PolicySettings())]


def one(graph: Graph, type_token: str, suffix: str) -> dict[str, Any]:
    (resource,) = [r for r in graph["resources"] if r["type"] == type_token and r["name"].endswith(suffix)]
    return resource


def edit_policy(resource: dict[str, Any], edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    document = json.loads(resource["inputs"]["policy"])
    document["Statement"] = edit(document["Statement"])
    resource["inputs"]["policy"] = json.dumps(document)


def without_sid(sid: str) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    return lambda statements: [s for s in statements if s.get("Sid") != sid]


@pytest.fixture
def use1(graphs: dict[str, Graph]) -> Graph:
    """The primary region's graph (MLflow, serving, drift, the feature store), to edit freely."""
    return copy.deepcopy(graphs["us-east-1"])


def test_the_family_is_mandatory_and_every_stack_is_clean(graphs: dict[str, Graph]) -> None:
    assert len(DEPLOYABILITY) == 8
    assert all(rule.level == "mandatory" and rule.graph_check is not None for rule in DEPLOYABILITY)
    for name, graph in graphs.items():
        assert findings(graph) == [], name


# -- keys -----------------------------------------------------------------------------------------------------


def test_secret_reader_without_the_db_secret_key_fires(use1: Graph) -> None:
    edit_policy(one(use1, "aws:iam/rolePolicy:RolePolicy", "-mlflow-irsa"),
                without_sid("DatabaseCredentialsKeyThroughSecretsManager"))  # fmt: skip
    (found,) = findings(use1, "mlplat-deploy-secret-key-decrypt")
    assert found[1] == "use1-mlflow-irsa" and "cannot kms:Decrypt its key" in found[2] and "use1-db-key" in found[2]


def test_secret_reader_through_a_provider_class_needs_the_key_through_secrets_manager(use1: Graph) -> None:
    """Serving mounts the Redis token via its SecretProviderClass; the reader role may use the key through S3 only."""

    def s3_only(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for statement in statements:
            if statement.get("Sid") == "RegionalKeyThroughS3AndSecretsManager":
                statement["Condition"]["StringEquals"]["kms:ViaService"] = "s3.us-east-1.amazonaws.com"
        return statements

    edit_policy(one(use1, "aws:iam/rolePolicy:RolePolicy", "-feature-reader"), s3_only)
    messages = [m for _, _, m in findings(use1, "mlplat-deploy-secret-key-decrypt")]
    assert messages and all("redis-auth" in m for m in messages)
    assert any("SecretProviderClass feature-store" in m or "through IAM" in m for m in messages)


def test_reader_of_the_encrypted_glue_catalog_without_the_key_through_glue_fires(use1: Graph) -> None:
    for role in ("-feature-reader", "-feature-writer"):
        edit_policy(
            one(use1, "aws:iam/rolePolicy:RolePolicy", role), without_sid("RegionalKeyThroughGlueForTheCatalog")
        )
    found = findings(use1, "mlplat-deploy-data-key-decrypt")
    assert sorted(name for _, name, _ in found) == ["use1-feature-reader", "use1-feature-writer"]
    assert all("Glue Data Catalog" in message and "glue.us-east-1" in message for _, _, message in found)


def test_reader_of_a_kms_bucket_without_the_key_through_s3_fires(use1: Graph) -> None:
    edit_policy(one(use1, "aws:iam/rolePolicy:RolePolicy", "-drift-irsa"), without_sid("PredictionKey"))
    ((_, role, message),) = findings(use1, "mlplat-deploy-data-key-decrypt")
    assert role == "use1-drift-irsa" and "mlplat-predictions-use1" in message


# -- DaemonSets on tainted pools ----------------------------------------------------------------------------------


def test_the_csi_provider_values_of_today_fire_on_the_gpu_pool(use1: Graph) -> None:
    provider = one(use1, "kubernetes:helm.sh/v3:Release", "-secrets-store-csi-driver-provider-aws")
    provider["inputs"]["values"] = {"secrets-store-csi-driver": {"install": False}}  # the value 0.3.9 does not have
    found = findings(use1, "mlplat-deploy-daemonset-tolerations")
    assert [name for _, name, _ in found] == [provider["name"]]
    assert "nvidia.com/gpu=true:NoSchedule" in found[0][2] and "pool inference" in found[0][2]
    assert "use1-serving" in found[0][2]


def test_a_dependency_that_does_not_select_the_pool_fires(use1: Graph) -> None:
    plugin = one(use1, "kubernetes:helm.sh/v3:Release", "-nvidia-device-plugin")
    plugin["inputs"]["values"]["nodeSelector"] = {"mlplat/pool": "training"}
    ((_, name, message),) = findings(use1, "mlplat-deploy-daemonset-tolerations")
    assert name == plugin["name"] and "does not select" in message and "device:nvidia.com/gpu" in message


def test_a_node_agent_that_selects_a_tainted_pool_must_tolerate_it(use1: Graph) -> None:
    dcgm = one(use1, "kubernetes:helm.sh/v3:Release", "-dcgm-exporter")
    del dcgm["inputs"]["values"]["tolerations"]  # the chart's default is []
    found = findings(use1, "mlplat-deploy-daemonset-tolerations")
    assert {name for _, name, _ in found} == {dcgm["name"]}
    assert sorted(m.split(" pool ")[1].split()[0] for _, _, m in found) == ["inference", "training"]


def test_a_missing_dependency_and_an_unchecked_chart_version_fire(use1: Graph) -> None:
    use1["resources"] = [r for r in use1["resources"] if not r["name"].endswith("-nvidia-device-plugin")]
    driver = one(use1, "kubernetes:helm.sh/v3:Release", "-secrets-store-csi-driver")
    driver["inputs"]["version"] = "1.5.0"
    messages = [m for _, _, m in findings(use1, "mlplat-deploy-daemonset-tolerations")]
    assert any("needs a device:nvidia.com/gpu DaemonSet, but no release provides one" in m for m in messages)
    assert any("checked against 1.4.7 only" in m for m in messages)


def test_the_toleration_table_names_its_source_for_every_pinned_chart() -> None:
    assert {c.chart for c in DAEMONSET_CHARTS} >= {
        "secrets-store-csi-driver",
        "secrets-store-csi-driver-provider-aws",
        "nvidia-device-plugin",
        "dcgm-exporter",
        "kube-prometheus-stack",
    }
    assert all(c.source and c.verified and c.tolerations for c in DAEMONSET_CHARTS)


# -- storage, deploy path, bucket denies -------------------------------------------------------------------------


def test_a_storage_class_the_stack_does_not_create_fires(use1: Graph) -> None:
    use1["resources"] = [r for r in use1["resources"] if r["type"] != "kubernetes:storage.k8s.io/v1:StorageClass"]
    ((_, name, message),) = findings(use1, "mlplat-deploy-storage-class-exists")
    assert name == "use1-kube-prometheus-stack" and "'gp3'" in message


def test_a_private_endpoint_without_a_runner_rule_has_no_deploy_path(use1: Graph) -> None:
    use1["resources"] = [r for r in use1["resources"] if "-cluster-from-runner-" not in r["name"]]
    ((_, name, message),) = findings(use1, "mlplat-deploy-cluster-endpoint-path")
    assert name == "use1-eks" and "no deploy path" in message


def test_a_public_endpoint_needs_an_allowlist_that_is_not_the_internet(use1: Graph) -> None:
    use1["resources"] = [r for r in use1["resources"] if "-cluster-from-runner-" not in r["name"]]
    vpc = one(use1, "aws:eks/cluster:Cluster", "-eks")["inputs"]["vpcConfig"]
    vpc.update(endpointPublicAccess=True, publicAccessCidrs=["0.0.0.0/0"])
    assert next(m for _, _, m in findings(use1, "mlplat-deploy-cluster-endpoint-path")).startswith("no deploy path")
    vpc["publicAccessCidrs"] = ["203.0.113.0/24"]
    assert findings(use1, "mlplat-deploy-cluster-endpoint-path") == []


def test_the_deploy_role_needs_its_own_admin_access_entry(use1: Graph) -> None:
    use1["resources"] = [r for r in use1["resources"] if not r["name"].startswith("use1-eks-admin-deploy")]
    ((_, _, message),) = findings(use1, "mlplat-deploy-cluster-endpoint-path")
    assert "role/mlplat-deploy-us-east-1 has no access entry" in message


def test_an_offline_bucket_deny_that_catches_the_deployer_fires(use1: Graph) -> None:
    def break_glass_only(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for statement in statements:
            arns = statement.get("Condition", {}).get("ArnNotLike", {}).get("aws:PrincipalArn")
            if isinstance(arns, list):
                statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"] = arns[0]
        return statements

    edit_policy(one(use1, "aws:s3/bucketPolicy:BucketPolicy", "-features-offline-policy"), break_glass_only)
    ((_, name, message),) = findings(use1, "mlplat-deploy-bucket-policy-management-reads")
    assert name == "use1-features-offline-policy" and "s3:ListBucket" in message


# -- engine versions and the first up ----------------------------------------------------------------------------


def test_a_minor_postgres_pin_with_auto_minor_upgrades_fires(use1: Graph) -> None:
    database = one(use1, "aws:rds/instance:Instance", "-db")
    database["inputs"]["engineVersion"] = "16.4"
    ((_, name, message),) = findings(use1, "mlplat-deploy-engine-version-granularity")
    assert name == "use1-db" and "major version only (16)" in message
    database["inputs"]["autoMinorVersionUpgrade"] = False
    assert findings(use1, "mlplat-deploy-engine-version-granularity") == []


def test_a_model_dependent_workload_that_blocks_up_fires(use1: Graph) -> None:
    serving = one(use1, "kubernetes:apps/v1:Deployment", "-serving")
    del serving["inputs"]["metadata"]["annotations"]
    ((_, name, message),) = findings(use1, "mlplat-deploy-first-up-not-blocked")
    assert name == "use1-serving" and "model fraud-detector" in message and "mlplat/serving" in message
    serving["inputs"]["spec"]["replicas"] = 0
    assert findings(use1, "mlplat-deploy-first-up-not-blocked") == []


# -- the IAM matcher -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "context", "holds"),
    [
        ({"StringEquals": {"kms:ViaService": ["s3.r.amazonaws.com", "glue.r.amazonaws.com"]}},
         {"kms:ViaService": "glue.r.amazonaws.com"}, True),
        ({"StringEquals": {"kms:ViaService": "s3.r.amazonaws.com"}}, {"kms:ViaService": "glue.r.amazonaws.com"}, False),
        ({"StringEquals": {"kms:ViaService": "s3.r.amazonaws.com"}}, {}, False),
        ({"StringNotEquals": {"aws:SourceVpce": "vpce-1"}}, {}, True),
        ({"ArnNotLike": {"aws:PrincipalArn": ["arn:aws:iam::1:role/a", "arn:aws:iam::1:role/b"]}},
         {"aws:PrincipalArn": "arn:aws:iam::1:role/b"}, False),
        ({"ArnLike": {"kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::b*"}},
         {"kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::bucket"}, True),
        ({"StringEqualsIfExists": {"aws:SourceVpce": "vpce-1"}}, {}, True),
        ({"Bool": {"aws:SecureTransport": "false"}}, {"aws:SecureTransport": "true"}, False),
        ({"NumericLessThan": {"x": "1"}}, {"x": "0"}, False),
    ],
)  # fmt: skip
def test_conditions_follow_iam_semantics(condition: dict[str, Any], context: dict[str, Any], holds: bool) -> None:
    assert condition_holds(condition, context) is holds


def test_the_crossguard_pack_reports_the_same_deployability_findings(graphs: dict[str, Graph]) -> None:
    """Users with the Pulumi CLI get the family at `pulumi preview --policy-pack policies/` (the harness names
    every URN's stack eu-west-1, so that stack's graph)."""
    from tests.policies.test_crossguard import _crossguard_findings

    euw1 = copy.deepcopy(graphs["eu-west-1"])
    serving = one(euw1, "kubernetes:apps/v1:Deployment", "-serving")
    del serving["inputs"]["metadata"]["annotations"]
    euw1["resources"] = [r for r in euw1["resources"] if r["type"] != "kubernetes:storage.k8s.io/v1:StorageClass"]
    expected = {
        ("mlplat-deploy-first-up-not-blocked", "euw1-serving"),
        ("mlplat-deploy-storage-class-exists", "euw1-kube-prometheus-stack"),
    }
    assert {(rule, name) for rule, name, _ in findings(euw1)} == expected
    assert {f for f in _crossguard_findings(euw1) if f[0].startswith("mlplat-deploy-")} == expected
