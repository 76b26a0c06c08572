"""Kubernetes pod and container specs as plain dicts (camelCase, as the API takes them): the restricted security
context, HTTP probes, GPU scheduling and ECR image names every platform workload shares. No pulumi import."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from components.node_bootstrap import GPU_TAINT

RUN_AS_USER = 10001  # the UID the platform's Dockerfiles switch to (USER 10001:10001); >= 10000 for CKV_K8S_40
TMP_DIR = "/tmp"  # noqa: S108 - an emptyDir mount: the only scratch space under a read-only root filesystem
POOL_LABEL = "mlplat/pool"  # set by GpuNodePool on every node it launches

# Pulumi's await logic skips this resource: `up` does not wait for readiness (model-dependent workloads, see
# docs/deploy.md). https://www.pulumi.com/registry/packages/kubernetes/installation-configuration/#await-logic
SKIP_AWAIT = "pulumi.com/skipAwait"


def ecr_image(account_id: str, region: str, repository: str, tag: str) -> str:
    """`<account>.dkr.ecr.<region>.amazonaws.com/mlplat/<repository>:<tag>`: the regional replica of the image."""
    return f"{account_id}.dkr.ecr.{region}.amazonaws.com/mlplat/{repository}:{tag}"


def pod_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "fsGroup": RUN_AS_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    """Pod Security Standard `restricted` plus a read-only root filesystem."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def http_probe(path: str, port: str | int, *, period: int = 10, failures: int = 3, delay: int = 0) -> dict[str, Any]:
    probe: dict[str, Any] = {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }
    if delay:
        probe["initialDelaySeconds"] = delay
    return probe


def exec_probe(command: Sequence[str], *, period: int = 60) -> dict[str, Any]:
    return {"exec": {"command": list(command)}, "periodSeconds": period, "timeoutSeconds": 10, "failureThreshold": 3}


def resources(cpu: str, memory: str, *, gpus: int = 0, cpu_limit: str | None = None) -> dict[str, Any]:
    """Requests equal limits for memory (no OOM surprises); GPUs are whole devices, requested and limited alike."""
    requests: dict[str, str] = {"cpu": cpu, "memory": memory}
    limits: dict[str, str] = {"cpu": cpu_limit or cpu, "memory": memory}
    if gpus:
        requests["nvidia.com/gpu"] = limits["nvidia.com/gpu"] = str(gpus)
    return {"requests": requests, "limits": limits}


def env_list(env: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"name": key, "value": env[key]} for key in sorted(env)]


def gpu_toleration() -> dict[str, str]:
    """Tolerates the taint every GPU node registers with, and nothing more."""
    return {"key": GPU_TAINT.key, "operator": "Equal", "value": GPU_TAINT.value, "effect": GPU_TAINT.effect}


def pool_affinity(pool: str) -> dict[str, Any]:
    """Required node affinity to one node pool (the GPU taint keeps others off; this keeps us on it)."""
    term = {"matchExpressions": [{"key": POOL_LABEL, "operator": "In", "values": [pool]}]}
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}}


def spread_across_zones(labels: Mapping[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": dict(labels)},
        }
    ]


def irsa_annotations(role_arn: Any) -> dict[str, Any]:
    return {"eks.amazonaws.com/role-arn": role_arn, "eks.amazonaws.com/sts-regional-endpoints": "true"}


def csi_secret_volume(name: str, secret_provider_class: str) -> dict[str, Any]:
    """A Secrets Store CSI volume: the AWS provider fetches the objects of the SecretProviderClass with the pod's
    IRSA role when the pod starts, and mounts them as files (tmpfs); nothing lands in etcd."""
    return {
        "name": name,
        "csi": {
            "driver": "secrets-store.csi.k8s.io",
            "readOnly": True,
            "volumeAttributes": {"secretProviderClass": secret_provider_class},
        },
    }


def aws_secret_objects(objects: Sequence[Mapping[str, Any]]) -> str:
    """The `objects` parameter of an AWS SecretProviderClass (YAML as a string)."""
    import yaml

    return yaml.safe_dump([dict(o) for o in objects], sort_keys=False)
