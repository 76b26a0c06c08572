"""The training plane (issue 14) as synthesized from the real stack program under Pulumi mocks."""

from __future__ import annotations

import json
from typing import Any

from components import training
from components.config import load_deployment
from components.naming import region_code
from mlplat.synth import kubernetes_manifests
from tests.conftest import ROOT


def _of(graph: dict[str, Any], type_token: str) -> list[dict[str, Any]]:
    return [r for r in graph["resources"] if r["type"] == type_token]


def _named(graph: dict[str, Any], type_token: str, name: str) -> dict[str, Any]:
    [found] = [r for r in _of(graph, type_token) if r["name"] == name]
    return found


def _manifest(graph: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    [found] = [m for _, m in kubernetes_manifests(graph) if m["kind"] == kind and m["metadata"]["name"] == name]
    return found


def test_every_region_gets_a_training_bucket_that_stays_in_the_region(regional_graphs: dict[str, Any]) -> None:
    for graph in regional_graphs.values():
        code = region_code(graph["region"])
        bucket = _named(graph, "aws:s3/bucket:Bucket", f"{code}-training")
        assert bucket["inputs"]["bucket"] == f"mlplat-{code}-training" and bucket["region"] == graph["region"]
        policy = json.loads(
            _named(graph, "aws:s3/bucketPolicy:BucketPolicy", f"{code}-training-policy")["inputs"]["policy"]
        )
        sids = {s["Sid"] for s in policy["Statement"]}
        assert {
            "DenyInsecureTransport",
            "DenyObjectAccessOutsideThisRegionsVpcEndpoint",
            "DenyListingOutsideThisRegionsVpcEndpoint",
        } <= sids
        sse = _named(
            graph,
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            f"{code}-training-sse",
        )
        assert sse["inputs"]["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
        lifecycle = _named(
            graph, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", f"{code}-training-lifecycle"
        )
        assert lifecycle["inputs"]["rules"][0]["expiration"]["days"] == 14
        replicated = [
            r for r in _of(graph, "aws:s3/bucketReplicationConfig:BucketReplicationConfig") if "training" in r["name"]
        ]
        assert not replicated


def test_the_trainer_reads_only_its_regions_tenants_offline_data(regional_graphs: dict[str, Any]) -> None:
    deployment = load_deployment(ROOT)
    for graph in regional_graphs.values():
        code = region_code(graph["region"])
        policy = json.loads(_named(graph, "aws:iam/rolePolicy:RolePolicy", f"{code}-trainer-irsa")["inputs"]["policy"])
        statements = {s["Sid"]: s for s in policy["Statement"]}
        reads = statements["ReadOwnTenantsOffline"]["Resource"]
        tenants = deployment.tenants_stored_in(graph["region"])
        assert sorted(reads) == sorted(
            f"arn:aws:s3:::mlplat-{code}-features-offline/tables/*/tenant={t}/*" for t in tenants
        )
        others = set(deployment.platform.tenants) - set(tenants)
        assert not any(f"tenant={t}/" in r for r in reads for t in others)
        assert all(s["Resource"] != "*" for s in policy["Statement"])
        role = _named(graph, "aws:iam/role:Role", f"{code}-trainer-irsa")
        trust = json.loads(role["inputs"]["assumeRolePolicy"])
        assert "system:serviceaccount:mlplat:trainer" in json.dumps(trust)


def test_retrain_events_reach_an_encrypted_queue_with_a_dead_letter_queue(regional_graphs: dict[str, Any]) -> None:
    for graph in regional_graphs.values():
        code = region_code(graph["region"])
        queue = _named(graph, "aws:sqs/queue:Queue", f"{code}-retrain")
        dlq = _named(graph, "aws:sqs/queue:Queue", f"{code}-retrain-dlq")
        assert queue["inputs"]["kmsMasterKeyId"] and dlq["inputs"]["kmsMasterKeyId"]
        assert json.loads(queue["inputs"]["redrivePolicy"])["maxReceiveCount"] == 5
        rule = _named(graph, "aws:cloudwatch/eventRule:EventRule", f"{code}-retrain-on-drift")
        assert json.loads(rule["inputs"]["eventPattern"]) == training.DRIFT_EVENT_PATTERN
        dispatcher = json.loads(
            _named(graph, "aws:iam/rolePolicy:RolePolicy", f"{code}-train-dispatcher-irsa")["inputs"]["policy"]
        )
        actions = {
            a for s in dispatcher["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        }
        assert "sqs:SendMessage" not in actions and not any(a.startswith("iam:") for a in actions)


def test_kuberay_is_pinned_and_the_rayjob_template_puts_workers_on_the_training_pool(
    regional_graphs: dict[str, Any],
) -> None:
    for graph in regional_graphs.values():
        code = region_code(graph["region"])
        release = _named(graph, "kubernetes:helm.sh/v3:Release", f"{code}-kuberay-operator")
        assert (release["inputs"]["chart"], release["inputs"]["version"]) == ("kuberay-operator", "1.6.1")
        template = json.loads(_manifest(graph, "ConfigMap", "training")["data"]["rayjob.json"])
        cluster = template["spec"]["rayClusterSpec"]
        head = cluster["headGroupSpec"]["template"]["spec"]
        assert head["nodeSelector"] == {"mlplat/pool": "system"}
        [workers] = cluster["workerGroupSpecs"]
        spec = workers["template"]["spec"]
        assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"} in spec[
            "tolerations"
        ]
        terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert terms[0]["matchExpressions"][0]["values"] == ["training"]
        assert spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]
        env = {e["name"]: e["value"] for e in spec["containers"][0]["env"]}
        assert env["MLPLAT_TRAINING_STORAGE"] == f"s3://mlplat-{code}-training/checkpoints"
        assert spec["serviceAccountName"] == "trainer" and spec["automountServiceAccountToken"] is False


def test_the_dispatcher_is_restricted_and_may_only_create_rayjobs(regional_graphs: dict[str, Any]) -> None:
    for graph in regional_graphs.values():
        deployment = _manifest(graph, "Deployment", "train-dispatcher")
        spec = deployment["spec"]["template"]["spec"]
        assert spec["automountServiceAccountToken"] is False and spec["securityContext"]["runAsNonRoot"] is True
        assert any(v["name"] == "kube-api-token" for v in spec["volumes"])
        container = spec["containers"][0]
        assert "/mlplat/training:" in container["image"] and "@sha256:" in container["image"]
        assert container["args"][:2] == ["dispatch", "--queue"] and "--ledger" in container["args"]
        role = _manifest(graph, "Role", "train-dispatcher")
        assert role["rules"] == [{"apiGroups": ["ray.io"], "resources": ["rayjobs"], "verbs": ["create", "get"]}]


def test_the_trainer_policy_names_each_tenant_prefix() -> None:
    document = json.loads(
        training.trainer_policy(
            partition="aws", region="eu-west-1", offline_bucket_arn="arn:aws:s3:::off", feature_key_arn="arn:k",
            training_bucket_arn="arn:aws:s3:::train", tenants=["b", "a"],
        )
    )  # fmt: skip
    # artifacts go through the MLflow server: no grant on the global model bucket or another region's keys
    assert not [s for s in document["Statement"] if "models" in json.dumps(s) or "us-east-1" in json.dumps(s)]
    listing = next(s for s in document["Statement"] if s["Sid"] == "ListOwnTenantsOffline")
    assert listing["Condition"]["StringLike"]["s3:prefix"] == ["tables/*/tenant=a/*", "tables/*/tenant=b/*"]
