"""Hardened Kubernetes workloads: the ServiceAccount (IRSA), pod spec and Deployment + PodDisruptionBudget that every
platform workload shares. Non-root UID 10001, read-only root filesystem, no capabilities, seccomp RuntimeDefault,
no service-account token (IRSA mounts its own), probes required; nothing here can be switched off by a caller."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import pod_specs

PART_OF = "mlplat"
TMP_VOLUME = "tmp"


def app_labels(app: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": PART_OF}


@dataclass(frozen=True, kw_only=True)
class Container:
    """One container of a platform workload; the security context is the toolkit's, not the caller's."""

    name: str
    image: pulumi.Input[str]
    resources: Mapping[str, Any]
    liveness: Mapping[str, Any]
    readiness: Mapping[str, Any]
    startup: Mapping[str, Any] | None = None
    env: pulumi.Input[Sequence[Mapping[str, Any]]] = ()
    ports: Sequence[Mapping[str, Any]] = ()
    command: Sequence[str] | None = None
    mounts: Sequence[Mapping[str, Any]] = ()

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "name": self.name,
            "image": self.image,
            "imagePullPolicy": "IfNotPresent",
            "env": self.env,
            "resources": dict(self.resources),
            "livenessProbe": dict(self.liveness),
            "readinessProbe": dict(self.readiness),
            "securityContext": pod_specs.container_security_context(),
            # the read-only root filesystem's one writable place, an emptyDir from `pod_spec`
            "volumeMounts": [*(dict(m) for m in self.mounts), {"name": TMP_VOLUME, "mountPath": pod_specs.TMP_DIR}],
        }
        if self.startup is not None:
            spec["startupProbe"] = dict(self.startup)
        if self.ports:
            spec["ports"] = [dict(p) for p in self.ports]
        if self.command is not None:
            spec["command"] = list(self.command)
        return spec


@dataclass(frozen=True, kw_only=True)
class Placement:
    """Where the pods may run: a node selector, or tolerations and affinity (e.g. the inference GPU pool)."""

    node_selector: Mapping[str, str] | None = None
    tolerations: Sequence[Mapping[str, Any]] = ()
    affinity: Mapping[str, Any] | None = None
    spread_across_zones: bool = False

    def spec(self, labels: Mapping[str, str]) -> dict[str, Any]:
        spec: dict[str, Any] = {}
        if self.node_selector is not None:
            spec["nodeSelector"] = dict(self.node_selector)
        if self.tolerations:
            spec["tolerations"] = [dict(t) for t in self.tolerations]
        if self.affinity is not None:
            spec["affinity"] = dict(self.affinity)
        if self.spread_across_zones:
            spec["topologySpreadConstraints"] = pod_specs.spread_across_zones(labels)
        return spec


def pod_spec(
    *,
    service_account: str,
    containers: Sequence[Container],
    volumes: Sequence[Mapping[str, Any]],
    placement: Placement,
    labels: Mapping[str, str],
    tmp_size: str = "1Gi",
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The restricted pod spec (Pod Security Standard `restricted` plus a read-only root filesystem, with an
    emptyDir of `tmp_size` that every container mounts at /tmp)."""
    return {
        "serviceAccountName": service_account,
        "automountServiceAccountToken": False,  # IRSA mounts its own token
        "securityContext": pod_specs.pod_security_context(),
        **placement.spec(labels),
        **dict(extra or {}),
        "containers": [c.spec() for c in containers],
        "volumes": [*(dict(v) for v in volumes), {"name": TMP_VOLUME, "emptyDir": {"sizeLimit": tmp_size}}],
    }


def service_account(
    resource_name: str,
    *,
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    role_arn: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.ServiceAccount:
    """A service account bound to its IRSA role (regional STS endpoint)."""
    return k8s.core.v1.ServiceAccount(
        resource_name,
        metadata={
            "name": name,
            "namespace": namespace,
            "labels": dict(labels),
            "annotations": pod_specs.irsa_annotations(role_arn),
        },
        opts=opts,
    )


@dataclass(frozen=True, kw_only=True)
class HardenedDeployment:
    service_account: k8s.core.v1.ServiceAccount
    deployment: k8s.apps.v1.Deployment
    disruption_budget: k8s.policy.v1.PodDisruptionBudget


@dataclass(frozen=True, kw_only=True)
class DisruptionBudget:
    """Exactly one of the two, as the PodDisruptionBudget API takes it."""

    max_unavailable: int | None = 1
    min_available: int | None = None

    def spec(self) -> dict[str, int]:
        if (self.max_unavailable is None) == (self.min_available is None):
            raise ValueError("a disruption budget sets exactly one of max_unavailable and min_available")
        if self.max_unavailable is not None:
            return {"maxUnavailable": self.max_unavailable}
        assert self.min_available is not None
        return {"minAvailable": self.min_available}


@dataclass(frozen=True, kw_only=True)
class WorkloadSpec:
    app: str  # the app label and the Kubernetes name of the Deployment and its budget
    namespace: str
    service_account: str
    role_arn: pulumi.Input[str]
    replicas: int
    containers: Sequence[Container]
    volumes: Sequence[Mapping[str, Any]] = ()
    placement: Placement = field(default_factory=Placement)
    disruption_budget: DisruptionBudget = field(default_factory=DisruptionBudget)
    termination_grace_seconds: int | None = None
    tmp_size: str = "1Gi"


def deployment(
    resource_name: str,
    spec: WorkloadSpec,
    *,
    opts: pulumi.ResourceOptions,
    after: Sequence[pulumi.Resource] = (),
) -> HardenedDeployment:
    """ServiceAccount `<resource_name>-sa`, Deployment `<resource_name>` (rolling, never below its replicas) and
    PodDisruptionBudget `<resource_name>-pdb`. `opts` carries the cluster provider and the namespace dependency;
    `after` are what the pods need first (e.g. their SecretProviderClass)."""
    if not spec.containers:
        raise ValueError(f"{resource_name}: a deployment needs at least one container")
    labels = app_labels(spec.app)
    metadata = {"name": spec.app, "namespace": spec.namespace, "labels": labels}
    account = service_account(
        f"{resource_name}-sa",
        name=spec.service_account,
        namespace=spec.namespace,
        labels=labels,
        role_arn=spec.role_arn,
        opts=opts,
    )
    extra = (
        {"terminationGracePeriodSeconds": spec.termination_grace_seconds}
        if spec.termination_grace_seconds is not None
        else None
    )
    workload = k8s.apps.v1.Deployment(
        resource_name,
        metadata=metadata,
        spec={
            "replicas": spec.replicas,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": labels},
                "spec": pod_spec(
                    service_account=spec.service_account,
                    containers=spec.containers,
                    volumes=spec.volumes,
                    placement=spec.placement,
                    labels=labels,
                    tmp_size=spec.tmp_size,
                    extra=extra,
                ),
            },
        },
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(after))),
    )
    budget = k8s.policy.v1.PodDisruptionBudget(
        f"{resource_name}-pdb",
        metadata=metadata,
        spec={**spec.disruption_budget.spec(), "selector": {"matchLabels": labels}},
        opts=opts,
    )
    return HardenedDeployment(service_account=account, deployment=workload, disruption_budget=budget)


def secret_provider_class(
    resource_name: str,
    *,
    name: str,
    namespace: str,
    region: str,
    objects: pulumi.Input[Sequence[Mapping[str, Any]]],
    labels: Mapping[str, str] | None = None,
    opts: pulumi.ResourceOptions,
) -> k8s.apiextensions.CustomResource:
    """A Secrets Store CSI `SecretProviderClass` of the AWS provider: the pod's own IRSA role fetches `objects`
    (Secrets Manager ARNs, aliases, jmesPath) when it starts; mount it with `pod_specs.csi_secret_volume`."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels is not None:
        metadata["labels"] = dict(labels)
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version="secrets-store.csi.x-k8s.io/v1",
        kind="SecretProviderClass",
        metadata=metadata,
        spec={
            "provider": "aws",
            "parameters": {
                "region": region,
                "usePodIdentity": "false",
                "objects": pulumi.Output.from_input(objects).apply(pod_specs.aws_secret_objects),
            },
        },
        opts=opts,
    )
