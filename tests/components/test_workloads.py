"""MLflow, observability and the runtime workloads (issue 5) as synthesized from the real stack program."""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import alert_rules
from components.config import WorkloadsConfig
from mlplat.cli import main
from mlplat.synth import kubernetes_manifests
from runtime.drift.metrics import JOB_NAME
from runtime.serving.metrics import Metrics
from tests.conftest import edit_yaml

KEY = "mlplat:platform"
PRIMARY_STACK = "us-east-1"


def _of(graph: dict[str, Any], type_token: str) -> list[dict[str, Any]]:
    return [r for r in graph["resources"] if r["type"] == type_token]


def _code(graph: dict[str, Any]) -> str:
    from components.naming import region_code

    return region_code(graph["region"])


def _manifests(graph: dict[str, Any]) -> list[dict[str, Any]]:
    return [manifest for _, manifest in kubernetes_manifests(graph)]


def _pod_specs(graph: dict[str, Any]) -> dict[str, dict[str, Any]]:
    specs = {}
    for m in _manifests(graph):
        if m["kind"] == "Deployment":
            specs[f"{m['metadata']['namespace']}/{m['metadata']['name']}"] = m["spec"]["template"]["spec"]
        elif m["kind"] == "CronJob":
            specs[f"{m['metadata']['namespace']}/{m['metadata']['name']}"] = m["spec"]["jobTemplate"]["spec"][
                "template"
            ]["spec"]
    return specs


def test_every_regional_stack_runs_serving_and_drift_and_only_the_primary_runs_mlflow(
    regional_graphs: dict[str, dict[str, Any]],
) -> None:
    for name, graph in regional_graphs.items():
        expected = {"mlplat/serving", "mlplat/drift", "mlplat/train-dispatcher"} | (
            {"mlflow/mlflow"} if name == PRIMARY_STACK else set()
        )
        assert set(_pod_specs(graph)) == expected, name
        assert bool(_of(graph, "aws:rds/instance:Instance")) == (name == PRIMARY_STACK)


def test_kubernetes_objects_are_on_the_regions_cluster_provider(regional_graphs: dict[str, dict[str, Any]]) -> None:
    for graph in regional_graphs.values():
        k8s = [r for r in graph["resources"] if r["type"].startswith("kubernetes:") and r.get("custom", True)]
        assert len(k8s) > 20
        assert {r["provider"] for r in k8s} == {f"{_code(graph)}-eks-k8s"}


def test_pods_are_restricted_probed_and_limited(regional_graphs: dict[str, dict[str, Any]]) -> None:
    for graph in regional_graphs.values():
        for where, spec in _pod_specs(graph).items():
            assert spec["securityContext"]["runAsNonRoot"] is True, where
            assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
            assert spec["automountServiceAccountToken"] is False
            for container in spec["containers"]:
                context = container["securityContext"]
                assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
                assert context["capabilities"] == {"drop": ["ALL"]} and context["runAsUser"] >= 10000
                assert container["livenessProbe"] and container["readinessProbe"]
                for kind in ("cpu", "memory"):
                    assert container["resources"]["requests"][kind] and container["resources"]["limits"][kind]


def test_images_come_from_this_platforms_regional_ecr_with_immutable_tags(
    regional_graphs: dict[str, dict[str, Any]],
) -> None:
    for graph in regional_graphs.values():
        for spec in _pod_specs(graph).values():
            for container in spec["containers"]:
                registry, _, rest = container["image"].partition("/")
                assert registry == f"123456789012.dkr.ecr.{graph['region']}.amazonaws.com"
                repository, _, tag = rest.partition(":")
                assert repository in {"mlplat/serving", "mlplat/drift", "mlplat/mlflow", "mlplat/training"}
                assert tag and tag != "latest"


def test_latest_is_not_a_valid_tag() -> None:
    with pytest.raises(ValueError, match="moving tag"):
        WorkloadsConfig(serving_image_tag="latest")
    assert WorkloadsConfig(drift_image_tag="1.0.0@sha256:" + "a" * 64).drift_image_tag.endswith("a" * 64)


def test_serving_runs_on_the_inference_gpu_pool_with_the_runtime_environment(
    regional_graphs: dict[str, dict[str, Any]],
) -> None:
    for graph in regional_graphs.values():
        spec = _pod_specs(graph)["mlplat/serving"]
        assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"} in spec[
            "tolerations"
        ]
        (term,) = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
            "nodeSelectorTerms"
        ]
        assert term["matchExpressions"] == [{"key": "mlplat/pool", "operator": "In", "values": ["inference"]}]
        (container,) = spec["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["MLPLAT_REGION"] == graph["region"]
        assert env["MLPLAT_REDIS_URL"].startswith("rediss://")
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        for path in ("MLPLAT_RESIDENCY_FILE", "MLPLAT_REDIS_TOKEN_FILE"):
            assert any(env[path].startswith(m + "/") for m in mounts), path
        assert env["MLPLAT_MODEL_CACHE_DIR"] in mounts
        assert env["MLPLAT_PREDICTION_LOG_URI"].startswith("s3://mlplat-predictions-")


def test_residency_configmap_holds_the_platforms_jurisdictions_and_tenants(
    regional_graphs: dict[str, dict[str, Any]], project_root: Path
) -> None:
    platform = yaml.safe_load((project_root / "stacks/platform.yaml").read_text())
    for graph in regional_graphs.values():
        (config_map,) = [
            m for m in _manifests(graph) if m["kind"] == "ConfigMap" and m["metadata"]["name"] == "residency"
        ]
        residency = yaml.safe_load(config_map["data"]["residency.yaml"])
        assert {n: j["regions"] for n, j in platform["jurisdictions"].items()} == residency["jurisdictions"]
        assert set(residency["tenants"]) == set(platform["tenants"])


def test_drift_pushes_to_the_in_cluster_pushgateway_and_is_scoped_to_its_region(
    regional_graphs: dict[str, dict[str, Any]],
) -> None:
    for graph in regional_graphs.values():
        (container,) = _pod_specs(graph)["mlplat/drift"]["containers"]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["MLPLAT_DRIFT_METRICS"] == "pushgateway" and ":9091" in env["MLPLAT_DRIFT_PUSHGATEWAY_URL"]
        (policy,) = [p for p in _of(graph, "aws:iam/rolePolicy:RolePolicy") if p["name"].endswith("-drift-irsa")]
        document = json.loads(policy["inputs"]["policy"])
        for statement in document["Statement"]:
            resource = statement["Resource"]
            assert resource != "*"
            assert f"mlplat-predictions-{_code(graph)}" in resource or f":{graph['region']}:" in resource
    assert JOB_NAME  # the drift job's push-gateway job name exists in the runtime


def test_prediction_log_bucket_is_regional_and_classed_as_features(regional_graphs: dict[str, dict[str, Any]]) -> None:
    for graph in regional_graphs.values():
        (bucket,) = [b for b in _of(graph, "aws:s3/bucket:Bucket") if b["name"].endswith("-predictions")]
        assert bucket["inputs"]["tags"]["mlplat/data-class"] == "features"
        assert bucket["inputs"]["tags"]["mlplat/residency"] == graph["region"]


def test_mlflow_database_is_private_encrypted_and_protected(graphs: dict[str, dict[str, Any]]) -> None:
    graph = graphs[PRIMARY_STACK]
    (db,) = _of(graph, "aws:rds/instance:Instance")
    inputs = db["inputs"]
    assert inputs["publiclyAccessible"] is False and inputs["storageEncrypted"] is True
    assert inputs["kmsKeyId"].startswith("arn:aws:kms:") and inputs["performanceInsightsKmsKeyId"]
    assert inputs["multiAz"] is True and inputs["iamDatabaseAuthenticationEnabled"] is True
    assert inputs["deletionProtection"] is True and inputs["backupRetentionPeriod"] >= 7
    assert inputs["skipFinalSnapshot"] is False and inputs["finalSnapshotIdentifier"]
    assert inputs["manageMasterUserPassword"] is True and "password" not in inputs
    (group,) = _of(graph, "aws:rds/parameterGroup:ParameterGroup")
    assert {p["name"]: p["value"] for p in group["inputs"]["parameters"]}["rds.force_ssl"] == "1"
    (subnets,) = _of(graph, "aws:rds/subnetGroup:SubnetGroup")
    intra = {f"{s['name']}-id" for s in _of(graph, "aws:ec2/subnet:Subnet") if "-intra-" in s["name"]}
    assert set(subnets["inputs"]["subnetIds"]) == intra
    (sg,) = [s for s in _of(graph, "aws:ec2/securityGroup:SecurityGroup") if s["name"].endswith("-db")]
    (rule,) = sg["inputs"]["ingress"]
    assert (rule["fromPort"], rule["toPort"]) == (5432, 5432) and not rule.get("cidrBlocks")
    services = [m for m in _manifests(graph) if m["kind"] == "Service" and m["metadata"]["namespace"] == "mlflow"]
    # Only a ClusterIP Service: the registry's internal NLB is declared in Pulumi (components/registry_access.py)
    # and bound to the pods by a TargetGroupBinding, never made by a controller from a LoadBalancer Service.
    assert [s["spec"]["type"] for s in services] == ["ClusterIP"]
    (nlb,) = [r for r in _of(graph, "aws:lb/loadBalancer:LoadBalancer") if r["name"].endswith("-registry-nlb")]
    assert nlb["inputs"]["internal"] is True and nlb["inputs"]["loadBalancerType"] == "network"


def test_amp_remote_write_role_may_only_write_to_its_workspace(regional_graphs: dict[str, dict[str, Any]]) -> None:
    for graph in regional_graphs.values():
        (workspace,) = _of(graph, "aws:amp/workspace:Workspace")
        assert workspace["inputs"]["kmsKeyArn"]
        (policy,) = [p for p in _of(graph, "aws:iam/rolePolicy:RolePolicy") if p["name"].endswith("-amp-remote-write")]
        (statement,) = json.loads(policy["inputs"]["policy"])["Statement"]
        assert statement["Action"] == "aps:RemoteWrite"
        assert (
            statement["Resource"].startswith(f"arn:aws:aps:{graph['region']}:")
            and "workspace/" in statement["Resource"]
        )
        for group in [g for g in _of(graph, "aws:cloudwatch/logGroup:LogGroup") if "-logs-" in g["name"]]:
            assert group["inputs"]["kmsKeyId"] and group["inputs"]["retentionInDays"] >= 30


def test_alert_rules_reference_metrics_the_runtime_exports(regional_graphs: dict[str, dict[str, Any]]) -> None:
    metrics = Metrics()
    metrics.requests.labels("/v1/predict", "champion", "200").inc()
    metrics.request_latency.labels("/v1/predict", "champion").observe(0.1)
    metrics.model_info.labels("champion", "m", "1", "registry").set(1)
    exported = metrics.render().decode()
    drift_source = (Path(__file__).parents[2] / "runtime/drift/metrics.py").read_text()
    for name in alert_rules.RUNTIME_METRICS:
        if name.startswith("mlplat_drift_"):
            assert f'"{name}"' in drift_source, name
        else:
            assert f"\n{name}{{" in exported, name
    for graph in regional_graphs.values():
        (rule,) = [m for m in _manifests(graph) if m["kind"] == "PrometheusRule"]
        expressions = " ".join(r["expr"] for g in rule["spec"]["groups"] for r in g["rules"])
        for name in alert_rules.RUNTIME_METRICS:
            assert name in expressions or name == alert_rules.DRIFT_LAST_RUN
        assert "> 0.05" in expressions and "> 2" in expressions and "> 0.25" in expressions and "< 30" in expressions


def test_dashboards_are_provisioned_from_the_repository(regional_graphs: dict[str, dict[str, Any]]) -> None:
    files = sorted(p.name for p in (Path(__file__).parents[2] / "components/dashboards").glob("*.json"))
    assert files == ["cost.json", "drift.json", "gpu-fleet.json", "serving.json"]
    for graph in regional_graphs.values():
        maps = [
            m
            for m in _manifests(graph)
            if m["kind"] == "ConfigMap" and m["metadata"].get("labels", {}).get("grafana_dashboard")
        ]
        assert sorted(next(iter(m["data"])) for m in maps) == files
        for m in maps:
            assert json.loads(next(iter(m["data"].values())))["panels"]


def test_prometheus_keeps_30_days_on_50_gib(regional_graphs: dict[str, dict[str, Any]]) -> None:
    for graph in regional_graphs.values():
        (release,) = [
            r for r in _of(graph, "kubernetes:helm.sh/v3:Release") if r["inputs"]["chart"] == "kube-prometheus-stack"
        ]
        spec = release["inputs"]["values"]["prometheus"]["prometheusSpec"]
        assert spec["retention"] == "30d"
        assert spec["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == "50Gi"
        assert spec["remoteWrite"][0]["url"].endswith("/api/v1/remote_write")
        assert release["inputs"]["version"]


def test_synth_writes_kubernetes_yaml_for_every_regional_stack(project_root: Path, tmp_path: Path) -> None:
    assert main(["--project", str(project_root), "synth", "eu-west-1", "--out", str(tmp_path)]) == 0
    kinds = {yaml.safe_load(p.read_text())["kind"] for p in (tmp_path / "eu-west-1" / "k8s").glob("*.yaml")}
    assert {"Deployment", "CronJob", "PodDisruptionBudget", "HorizontalPodAutoscaler", "ServiceMonitor"} <= kinds


def test_mlflow_outside_the_primary_region_exits_2_naming_the_field(
    project_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit_yaml(
        project_copy / "stacks/Pulumi.eu-west-1.yaml", lambda d: d["config"][KEY].update(mlflow={"enabled": True})
    )
    assert main(["--project", str(project_copy), "stacks"]) == 2
    captured = capsys.readouterr()
    assert "stacks/Pulumi.eu-west-1.yaml: mlplat:platform.mlflow.enabled" in captured.out + captured.err
