"""The global stack: ECR and the model-artifact buckets with their replication."""

import json
from typing import Any

from components.container_registry import lifecycle_policy, pull_policy


def _of(graph: dict[str, Any], type_token: str) -> list[dict[str, Any]]:
    return [r for r in graph["resources"] if r["type"] == type_token]


def test_repositories_are_immutable_scanned_and_encrypted(graphs: dict[str, dict[str, Any]]) -> None:
    graph = graphs["global"]
    repos = {r["inputs"]["name"]: r["inputs"] for r in _of(graph, "aws:ecr/repository:Repository")}
    assert set(repos) == {"mlplat/serving", "mlplat/drift", "mlplat/mlflow", "mlplat/training"}
    for repo in repos.values():
        assert repo["imageTagMutability"] == "IMMUTABLE"
        assert repo["imageScanningConfiguration"]["scanOnPush"] is True
        (encryption,) = repo["encryptionConfigurations"]
        assert encryption["encryptionType"] == "KMS" and encryption["kmsKey"].startswith("arn:aws:kms:us-east-1:")
    (scanning,) = _of(graph, "aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration")
    assert scanning["inputs"]["scanType"] == "ENHANCED"
    assert len(_of(graph, "aws:ecr/lifecyclePolicy:LifecyclePolicy")) == 4


def test_images_replicate_to_exactly_the_regional_stacks_regions(graphs: dict[str, dict[str, Any]]) -> None:
    (replication,) = _of(graphs["global"], "aws:ecr/replicationConfiguration:ReplicationConfiguration")
    (rule,) = replication["inputs"]["replicationConfiguration"]["rules"]
    regional = {g["region"] for g in graphs.values() if g["kind"] == "regional"} - {graphs["global"]["region"]}
    assert {d["region"] for d in rule["destinations"]} == regional


def test_lifecycle_keeps_n_releases_and_expires_untagged() -> None:
    rules = json.loads(lifecycle_policy(keep_tagged=12, untagged_days=5))["rules"]
    untagged, tagged = rules
    assert untagged["selection"]["tagStatus"] == "untagged" and untagged["selection"]["countNumber"] == 5
    assert tagged["selection"]["countType"] == "imageCountMoreThan" and tagged["selection"]["countNumber"] == 12


def test_only_platform_roles_may_pull() -> None:
    allow, deny = json.loads(pull_policy("123456789012"))["Statement"]
    assert allow["Effect"] == "Allow" and allow["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert allow["Condition"]["StringEquals"]["aws:PrincipalTag/mlplat-role"] == ["node", "workload"]
    assert deny["Effect"] == "Deny" and "ecr:BatchGetImage" in deny["Action"]


def test_models_replicate_to_a_read_bucket_per_region(graphs: dict[str, dict[str, Any]]) -> None:
    graph = graphs["global"]
    buckets = {b["inputs"]["bucket"]: b for b in _of(graph, "aws:s3/bucket:Bucket")}
    assert buckets["mlplat-models-use1"]["region"] == "us-east-1"
    for code, region in (("euw1", "eu-west-1"), ("euc1", "eu-central-1"), ("apse1", "ap-southeast-1")):
        assert buckets[f"mlplat-models-{code}"]["region"] == region
        assert buckets[f"mlplat-models-{code}"]["inputs"]["tags"]["mlplat/data-class"] == "models"
    (replication,) = _of(graph, "aws:s3/bucketReplicationConfig:BucketReplicationConfig")
    destinations = {r["destination"]["bucket"] for r in replication["inputs"]["rules"]}
    assert destinations == {
        "arn:aws:s3:::mlplat-models-euw1",
        "arn:aws:s3:::mlplat-models-euc1",
        "arn:aws:s3:::mlplat-models-apse1",
    }
    for rule in replication["inputs"]["rules"]:
        key = rule["destination"]["encryptionConfiguration"]["replicaKmsKeyId"]
        assert key.split(":")[3] == buckets[rule["destination"]["bucket"].split(":::")[1]]["region"]
    policy = json.loads(
        next(p for p in _of(graph, "aws:iam/rolePolicy:RolePolicy") if p["name"].endswith("models-replication"))[
            "inputs"
        ]["policy"]
    )
    assert all(s["Resource"] != "*" for s in policy["Statement"])
