"""What the first real `pulumi up` needs (issue 19), asserted on the synthesized graphs and the config models: each
test here failed on the code before the fix it names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from components.config import ConfigError, MlflowConfig, load_deployment
from components.naming import deploy_role_name
from tests.conftest import edit_yaml

Graph = dict[str, Any]
KEY = "mlplat:platform"


def _of(graph: Graph, type_token: str) -> list[dict[str, Any]]:
    return [r for r in graph["resources"] if r["type"] == type_token]


def _one(graph: Graph, type_token: str, suffix: str) -> dict[str, Any]:
    (resource,) = [r for r in _of(graph, type_token) if r["name"].endswith(suffix)]
    return resource


def _statements(resource: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s.get("Sid", ""): s for s in json.loads(resource["inputs"]["policy"])["Statement"]}


# 1. a typed deploy path, and 9. admins by access entry


def test_every_cluster_has_its_runner_ingress_and_admin_entries(regional_graphs: dict[str, Graph]) -> None:
    for stack, graph in regional_graphs.items():
        (cluster,) = _of(graph, "aws:eks/cluster:Cluster")
        assert cluster["inputs"]["accessConfig"]["bootstrapClusterCreatorAdminPermissions"] is False
        runner = [r for r in _of(graph, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
                  if "-cluster-from-runner-" in r["name"]]  # fmt: skip
        assert runner and all(r["inputs"]["fromPort"] == r["inputs"]["toPort"] == 443 for r in runner)
        assert all(
            r["inputs"]["securityGroupId"] == cluster["inputs"]["vpcConfig"]["securityGroupIds"][0] for r in runner
        )
        admins = {
            a["inputs"]["principalArn"].rsplit("/", 1)[-1]: a["inputs"]["policyArn"]
            for a in _of(graph, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
        }
        assert set(admins) == {deploy_role_name(stack), "mlplat-break-glass"}
        assert all(arn.endswith(":cluster-access-policy/AmazonEKSClusterAdminPolicy") for arn in admins.values())
        # The Kubernetes provider connects only once the deploy role is admin.
        (provider,) = _of(graph, "pulumi:providers:kubernetes")
        assert (
            f"aws:eks/accessPolicyAssociation:AccessPolicyAssociation::{cluster['name']}-admin-deploy-policy"
            in (provider["dependsOn"])
        )


def test_deploy_role_name_matches_the_bootstrap() -> None:
    terraform = (Path(__file__).resolve().parents[2] / "infra/bootstrap/github_oidc.tf").read_text()
    assert 'name                 = "${var.name_prefix}-deploy-${each.key}"' in terraform
    assert deploy_role_name("eu-west-1") == "mlplat-deploy-eu-west-1"


# 2. PostgreSQL pinned to its major version


def test_postgres_is_pinned_to_the_major_version(regional_graphs: dict[str, Graph]) -> None:
    database = _one(regional_graphs["us-east-1"], "aws:rds/instance:Instance", "-db")["inputs"]
    assert database["engineVersion"] == "16" and database["autoMinorVersionUpgrade"] is True
    params = _one(regional_graphs["us-east-1"], "aws:rds/parameterGroup:ParameterGroup", "-db")["inputs"]
    assert params["family"] == "postgres16"


@pytest.mark.parametrize(("version", "words"), [("16.4", "give the major only ('16')"), ("13", "14..17")])
def test_a_minor_or_unsupported_postgres_version_is_refused(version: str, words: str) -> None:
    with pytest.raises(ValidationError, match=words.replace("(", r"\(").replace(")", r"\)")):
        MlflowConfig(engine_version=version)


def test_a_minor_postgres_pin_in_a_stack_file_names_the_field(project_copy: Path) -> None:
    edit_yaml(project_copy / "stacks/Pulumi.us-east-1.yaml", lambda d: d["config"][KEY]["mlflow"].update(
        engine_version="16.4"))  # fmt: skip
    with pytest.raises(ConfigError) as error:
        load_deployment(project_copy)
    assert "stacks/Pulumi.us-east-1.yaml: mlplat:platform.mlflow.engine_version: " in str(error.value)
    assert "major only" in str(error.value)


# 3. MLflow can decrypt its database secret


def test_mlflow_role_decrypts_the_db_secret_key_through_secrets_manager(regional_graphs: dict[str, Graph]) -> None:
    graph = regional_graphs["us-east-1"]
    grant = _statements(_one(graph, "aws:iam/rolePolicy:RolePolicy", "-mlflow-irsa"))[
        "DatabaseCredentialsKeyThroughSecretsManager"
    ]
    database = _one(graph, "aws:rds/instance:Instance", "-db")["inputs"]
    assert grant["Action"] == "kms:Decrypt" and grant["Resource"] == database["masterUserSecretKmsKeyId"]
    condition = grant["Condition"]["StringEquals"]
    assert condition["kms:ViaService"] == "secretsmanager.us-east-1.amazonaws.com"
    assert condition["kms:EncryptionContext:SecretARN"].startswith("arn:aws:secretsmanager:us-east-1:")


# 4. the AWS secrets provider runs on the GPU nodes


def test_csi_provider_tolerates_the_gpu_taint_with_values_its_chart_has(regional_graphs: dict[str, Graph]) -> None:
    for graph in regional_graphs.values():
        provider = _one(graph, "kubernetes:helm.sh/v3:Release", "-secrets-store-csi-driver-provider-aws")["inputs"]
        assert provider["version"] == "0.3.9"
        assert provider["values"] == {"tolerations": [{"operator": "Exists"}]}  # no `secrets-store-csi-driver` key


# 5. the first deploy does not wait for a model


def test_model_and_image_dependent_workloads_skip_the_await(regional_graphs: dict[str, Graph]) -> None:
    for graph in regional_graphs.values():
        for deployment in _of(graph, "kubernetes:apps/v1:Deployment"):
            assert deployment["inputs"]["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"


# 6. a gp3 StorageClass, before Prometheus


def test_gp3_storage_class_is_encrypted_and_prometheus_waits_for_it(regional_graphs: dict[str, Graph]) -> None:
    for graph in regional_graphs.values():
        (storage,) = _of(graph, "kubernetes:storage.k8s.io/v1:StorageClass")
        inputs = storage["inputs"]
        assert inputs["metadata"]["name"] == "gp3" and inputs["provisioner"] == "ebs.csi.aws.com"
        assert inputs["parameters"]["type"] == "gp3" and inputs["parameters"]["encrypted"] == "true"
        assert inputs["parameters"]["kmsKeyId"].endswith("-eks-volumes-key")
        assert inputs["volumeBindingMode"] == "WaitForFirstConsumer"
        assert any(d.endswith("-eks-aws-ebs-csi-driver") for d in storage["dependsOn"])
        prometheus = _one(graph, "kubernetes:helm.sh/v3:Release", "-kube-prometheus-stack")
        assert f"{storage['type']}::{storage['name']}" in prometheus["dependsOn"]


# 8. the feature roles can use the encrypted Glue catalog


def test_feature_roles_use_the_catalog_key_through_glue_only(regional_graphs: dict[str, Graph]) -> None:
    for graph in regional_graphs.values():
        for role in ("-feature-reader", "-feature-writer"):
            grant = _statements(_one(graph, "aws:iam/rolePolicy:RolePolicy", role))[
                "RegionalKeyThroughGlueForTheCatalog"
            ]
            assert grant["Condition"] == {"StringEquals": {"kms:ViaService": f"glue.{graph['region']}.amazonaws.com"}}
            assert set(grant["Action"]) == {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"}


# Possible: `features-clients` mixed an inline `egress: []` with a separate egress rule


def test_feature_client_group_has_only_its_separate_egress_rule(regional_graphs: dict[str, Graph]) -> None:
    for graph in regional_graphs.values():
        group = _one(graph, "aws:ec2/securityGroup:SecurityGroup", "-features-clients")
        assert "egress" not in group["inputs"] and "ingress" not in group["inputs"]
        rules = [r for r in _of(graph, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
                 if r["inputs"]["securityGroupId"] == group["id"]]  # fmt: skip
        assert [r["inputs"]["fromPort"] for r in rules] == [6379]


# Possible: GPU capacity of a fresh account can be 0; `up` does not wait for it


def test_gpu_groups_do_not_make_up_wait_for_capacity(regional_graphs: dict[str, Graph]) -> None:
    for graph in regional_graphs.values():
        groups = _of(graph, "aws:autoscaling/group:Group")
        assert groups and all(g["inputs"]["waitForCapacityTimeout"] == "0" for g in groups)


# Possible: replicated repositories got AWS defaults (no policy, no lifecycle, AES256)


def test_replicas_are_created_from_a_template_with_policy_lifecycle_and_a_regional_key(
    graphs: dict[str, Graph],
) -> None:
    graph = graphs["global"]
    (replication,) = _of(graph, "aws:ecr/replicationConfiguration:ReplicationConfiguration")
    destinations = {d["region"] for d in replication["inputs"]["replicationConfiguration"]["rules"][0]["destinations"]}
    templates = {
        t["region"]: t["inputs"] for t in _of(graph, "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate")
    }
    assert set(templates) == destinations
    (source_policy,) = {r["inputs"]["policy"] for r in _of(graph, "aws:ecr/repositoryPolicy:RepositoryPolicy")}
    (source_lifecycle,) = {r["inputs"]["policy"] for r in _of(graph, "aws:ecr/lifecyclePolicy:LifecyclePolicy")}
    for region, template in templates.items():
        assert template["prefix"] == "mlplat" and template["appliedFors"] == ["REPLICATION"]
        assert template["imageTagMutability"] == "IMMUTABLE"
        (encryption,) = template["encryptionConfigurations"]
        assert encryption["encryptionType"] == "KMS" and encryption["kmsKey"].startswith(f"arn:aws:kms:{region}:")
        assert template["repositoryPolicy"] == source_policy and template["lifecyclePolicy"] == source_lifecycle
        assert template["customRoleArn"].endswith("/glb-ecr-replica-creation")
    role_policy = _statements(_one(graph, "aws:iam/rolePolicy:RolePolicy", "-ecr-replica-creation"))
    assert set(role_policy["GrantTheReplicaKey"]["Resource"]) == {
        t["encryptionConfigurations"][0]["kmsKey"] for t in templates.values()
    }


# Possible: one GPU pool mixed node shapes


def test_every_gpu_pool_has_one_node_shape(project_root: Path) -> None:
    from components import instance_catalogue

    for name, stack in load_deployment(project_root).regional().items():
        for pool in stack.gpu_pools:
            shapes = {(t.vcpus, t.memory_gib, t.gpus) for t in map(instance_catalogue.get, pool.instance_types)}
            assert len(shapes) == 1, (name, pool.name, shapes)
