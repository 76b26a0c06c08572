"""The component toolkit, each helper built on its own under mocks with arguments the stacks do not use."""

from __future__ import annotations

import json

import pulumi
import pytest

from components import toolkit
from components.kms_key import KmsKey, KmsKeyArgs
from components.pod_specs import RUN_AS_USER
from components.toolkit import (
    CHARTS,
    ClusterIdentity,
    Container,
    DisruptionBudget,
    Placement,
    RegionEnv,
    WorkloadSpec,
    deployment,
    helm_release,
    irsa_role,
    logs_grant,
)
from tests.components.mock_program import build, cluster_ref, env

IDENTITY = ClusterIdentity(
    oidc_provider_arn="arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-central-1.amazonaws.com/id/X",
    oidc_issuer_url="https://oidc.eks.eu-central-1.amazonaws.com/id/X",
)


def test_irsa_role_pins_one_service_account_and_tags_the_kind() -> None:
    def program(provider: pulumi.ProviderResource) -> None:
        opts = pulumi.ResourceOptions(provider=provider)
        irsa_role("w", cluster=IDENTITY, namespace="jobs", service_account="trainer", env=env(team="a"),
                  purpose="trains", policy='{"Version": "2012-10-17", "Statement": []}', role_name="mlplat-w",
                  opts=opts)  # fmt: skip
        irsa_role("c", cluster=IDENTITY, namespace="kube-system", service_account="ctl", env=env(),
                  purpose="controls", managed_policy_arns=["arn:aws:iam::aws:policy/A", "arn:aws:iam::aws:policy/B"],
                  policy='{"Statement": []}', kind="controller", former_policy_name="c-old", opts=opts)  # fmt: skip

    built = build(program)
    workload = built.one("aws:iam/role:Role", "w")["inputs"]
    assert workload["name"] == "mlplat-w" and workload["maxSessionDuration"] == 3600
    assert workload["tags"] == {"owner": "ml", "team": "a", "mlplat-role": "workload", "Name": "w"}
    assert workload["description"] == "IRSA: jobs/trainer: trains"
    (trust,) = json.loads(workload["assumeRolePolicy"])["Statement"]
    assert trust["Condition"]["StringEquals"] == {
        "oidc.eks.eu-central-1.amazonaws.com/id/X:sub": "system:serviceaccount:jobs:trainer",
        "oidc.eks.eu-central-1.amazonaws.com/id/X:aud": "sts.amazonaws.com",
    }
    controller = built.one("aws:iam/role:Role", "c")["inputs"]
    assert "name" not in controller and controller["tags"]["mlplat-role"] == "controller"
    assert built.names("aws:iam/rolePolicyAttachment:RolePolicyAttachment") == {"c-policy", "c-policy-1"}
    assert built.one("aws:iam/rolePolicy:RolePolicy", "c")["aliases"] == [{"name": "c-old"}]
    assert "aliases" not in built.one("aws:iam/rolePolicy:RolePolicy", "w")


def test_irsa_role_without_any_policy_is_an_error() -> None:
    with pytest.raises(ValueError, match="needs an inline policy or a managed policy"):
        irsa_role("x", cluster=IDENTITY, namespace="n", service_account="s", env=env(), purpose="p",
                  opts=pulumi.ResourceOptions())  # fmt: skip


def test_helm_release_installs_the_pinned_chart_under_its_own_name() -> None:
    def program(provider: pulumi.ProviderResource) -> None:
        cluster = cluster_ref()
        on_cluster = pulumi.ResourceOptions(provider=cluster.kubernetes_provider)
        helm_release("r1", "dcgm-exporter", namespace="gpu", values={"a": 1}, opts=on_cluster, create_namespace=True)
        helm_release("r2", "metrics-server", namespace="kube-system", values={}, opts=on_cluster)

    built = build(program)
    first = built.one("kubernetes:helm.sh/v3:Release", "r1")["inputs"]
    pin = CHARTS["dcgm-exporter"]
    assert (first["name"], first["chart"], first["version"]) == ("dcgm-exporter", pin.chart, pin.version)
    assert first["repositoryOpts"] == {"repo": pin.repository} and first["createNamespace"] is True
    assert "createNamespace" not in built.one("kubernetes:helm.sh/v3:Release", "r2")["inputs"]


def test_a_chart_missing_from_the_pin_table_is_refused() -> None:
    with pytest.raises(KeyError, match="not pinned"):
        helm_release("r", "ingress-nginx", namespace="x", values={}, opts=pulumi.ResourceOptions())


def test_every_chart_is_pinned_to_an_exact_version() -> None:
    for key, chart in CHARTS.items():
        assert chart.chart == key
        assert all(part.isdigit() for part in chart.version.split(".")), key


def test_deployment_is_hardened_whatever_the_caller_passes() -> None:
    def program(provider: pulumi.ProviderResource) -> None:
        cluster = cluster_ref()
        container = Container(
            name="app",
            image="registry/app:1",
            resources={"requests": {"cpu": "1"}},
            liveness={"httpGet": {"path": "/l", "port": 80}},
            readiness={"httpGet": {"path": "/r", "port": 80}},
            command=["run"],
        )
        deployment(
            "t-app",
            WorkloadSpec(
                app="app", namespace="ns", service_account="app-sa", role_arn="arn:aws:iam::1:role/app",
                replicas=4, containers=[container], tmp_size="2Gi",
                placement=Placement(node_selector={"pool": "x"}, spread_across_zones=True),
                disruption_budget=DisruptionBudget(max_unavailable=None, min_available=3),
            ),
            opts=pulumi.ResourceOptions(provider=cluster.kubernetes_provider),
        )  # fmt: skip

    built = build(program)
    spec = built.one("kubernetes:apps/v1:Deployment", "t-app")["inputs"]["spec"]
    assert spec["replicas"] == 4 and spec["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    pod = spec["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False and pod["serviceAccountName"] == "app-sa"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["nodeSelector"] == {"pool": "x"} and pod["topologySpreadConstraints"]
    (container,) = pod["containers"]
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True and context["capabilities"] == {"drop": ["ALL"]}
    assert context["runAsUser"] == RUN_AS_USER and context["allowPrivilegeEscalation"] is False
    assert container["command"] == ["run"] and "startupProbe" not in container
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}}]
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    budget = built.one("kubernetes:policy/v1:PodDisruptionBudget", "t-app-pdb")["inputs"]["spec"]
    assert budget == {"minAvailable": 3, "selector": {"matchLabels": spec["selector"]["matchLabels"]}}
    account = built.one("kubernetes:core/v1:ServiceAccount", "t-app-sa")["inputs"]["metadata"]
    assert account["name"] == "app-sa"
    assert account["annotations"]["eks.amazonaws.com/role-arn"] == "arn:aws:iam::1:role/app"


def test_a_disruption_budget_takes_exactly_one_bound() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        DisruptionBudget(max_unavailable=1, min_available=1).spec()
    with pytest.raises(ValueError, match="exactly one"):
        DisruptionBudget(max_unavailable=None).spec()


def test_logs_grant_is_scoped_to_one_group_or_one_prefix() -> None:
    def program(provider: pulumi.ProviderResource) -> None:
        region = env("ap-southeast-1")
        opts = pulumi.ResourceOptions(provider=provider)
        KmsKey("one", KmsKeyArgs.for_env(region, description="d", service_grants=[logs_grant(region, "/a/b")]),
               opts=opts)  # fmt: skip
        KmsKey("all", KmsKeyArgs.for_env(region, description="d", service_grants=[logs_grant(region, "/a/*")]),
               opts=opts)  # fmt: skip

    built = build(program, region="ap-southeast-1")
    for key, operator, group in (("one", "ArnEquals", "/a/b"), ("all", "ArnLike", "/a/*")):
        statements = json.loads(built.one("aws:kms/key:Key", key)["inputs"]["policy"])["Statement"]
        (grant,) = [s for s in statements if s["Sid"] == "Service0"]
        assert grant["Principal"] == {"Service": "logs.ap-southeast-1.amazonaws.com"}
        assert grant["Condition"] == {
            operator: {
                "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:ap-southeast-1:123456789012:log-group:{group}"
            }
        }


def test_region_env_is_frozen_and_copies_its_tags() -> None:
    tags = {"owner": "ml"}
    region = RegionEnv(region="eu-west-1", account_id="1", tags=tags)
    tags["owner"] = "changed"
    assert region.tags["owner"] == "ml"
    with pytest.raises(TypeError):
        region.tags["x"] = "y"  # type: ignore[index]
    assert region.tagged(Name="n") == {"owner": "ml", "Name": "n"}
    assert region.in_region("us-east-1").region == "us-east-1" and region.in_region("us-east-1").tags == region.tags
    assert toolkit.__all__ and set(toolkit.__all__) <= set(dir(toolkit))
