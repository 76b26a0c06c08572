"""Deployability: what the first real `pulumi up` needs and mocks never check. Keys that readers can actually use,
DaemonSets that reach every node their pods need them on, storage classes that exist, a way for the deploy
principal to reach the cluster and its buckets, engine versions AWS will not "downgrade", and workloads that do
not block the deploy on things the stack cannot create (issue 19)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlplat.graph import GraphIndex, as_list, policy_document, statements
from policies.access import RoleAccess, account_of, key_allows, key_arn_of, principal_matches, statement_matches
from policies.engine import Graph, Resource, StackContext
from policies.rules.encryption import (
    BUCKET_POLICY,
    BUCKET_TYPES,
    RDS_CLUSTER,
    RDS_INSTANCE,
    REPLICATION_GROUP,
    SSE_TYPES,
)
from policies.rules.registry import RULES, first, inputs_of

FAMILY = "deployability"
SECRET = "aws:secretsmanager/secret:Secret"
GLUE_ENCRYPTION = "aws:glue/dataCatalogEncryptionSettings:DataCatalogEncryptionSettings"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
ACCESS_ENTRY = "aws:eks/accessEntry:AccessEntry"
ACCESS_POLICY = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
ASG = "aws:autoscaling/group:Group"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
ECR_REPOSITORY = "aws:ecr/repository:Repository"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
SECRET_PROVIDER_CLASS = "kubernetes:secrets-store.csi.x-k8s.io/v1:SecretProviderClass"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
POD_TEMPLATE_TYPES = (
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:batch/v1:Job",
    "kubernetes:batch/v1:CronJob",
)
AWAITED_TYPES = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet")
SKIP_AWAIT = "pulumi.com/skipAwait"
SECRETS_STORE_DRIVER = "secrets-store.csi.k8s.io"
CLUSTER_ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"
EKS_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
NODE_TEMPLATE = "k8s.io/cluster-autoscaler/node-template/"
# Reads the Pulumi AWS provider makes on every refresh/update of a bucket (HeadBucket is authorised as ListBucket).
BUCKET_MANAGEMENT_READS = (
    "s3:ListBucket",
    "s3:GetBucketPolicy",
    "s3:GetBucketAcl",
    "s3:GetBucketVersioning",
    "s3:GetEncryptionConfiguration",
    "s3:GetLifecycleConfiguration",
    "s3:GetBucketLogging",
    "s3:GetBucketPublicAccessBlock",
    "s3:GetBucketOwnershipControls",
    "s3:GetBucketObjectLockConfiguration",
    "s3:GetBucketTagging",
)


# -- where each DaemonSet chart takes its tolerations ----------------------------------------------------------


@dataclass(frozen=True)
class DaemonSetChart:
    """One DaemonSet of a pinned Helm chart: what it provides, where its values put tolerations, node selector and
    affinity, and what the chart defaults to when we pass nothing. `verified` lists the chart versions whose
    values.yaml was read for these paths; a release at another version is reported until the table is checked."""

    chart: str
    provides: str  # "csi-driver", "csi-provider:<name>", "device:<resource>", "node-agent"
    verified: tuple[str, ...]
    tolerations: tuple[str, ...]
    default_tolerations: tuple[Mapping[str, str], ...] = ()
    node_selector: tuple[str, ...] = ()
    default_node_selector: Mapping[str, str] = field(default_factory=dict)
    affinity: tuple[str, ...] = ()
    default_affinity: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""


_NVIDIA_NFD_AFFINITY = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "feature.node.kubernetes.io/pci-10de.present", "operator": "In",
                                       "values": ["true"]}]},
                {"matchExpressions": [{"key": "feature.node.kubernetes.io/cpu-model.vendor_id", "operator": "In",
                                       "values": ["NVIDIA"]}]},
                {"matchExpressions": [{"key": "nvidia.com/gpu.present", "operator": "In", "values": ["true"]}]},
            ]
        }
    }
}  # fmt: skip

DAEMONSET_CHARTS: tuple[DaemonSetChart, ...] = (
    DaemonSetChart(
        "secrets-store-csi-driver",
        "csi-driver",
        ("1.4.7",),
        ("linux", "tolerations"),
        ({"operator": "Exists"},),
        ("linux", "nodeSelector"),
        source="kubernetes-sigs/secrets-store-csi-driver v1.4.7 charts/secrets-store-csi-driver/values.yaml",
    ),
    DaemonSetChart(
        "secrets-store-csi-driver-provider-aws",
        "csi-provider:aws",
        ("0.3.9",),
        ("tolerations",),
        (),
        ("nodeSelector",),
        source="aws/secrets-store-csi-driver-provider-aws eec8172 (chart 0.3.9) charts/.../values.yaml",
    ),
    DaemonSetChart(
        "nvidia-device-plugin",
        "device:nvidia.com/gpu",
        ("0.17.1",),
        ("tolerations",),
        (
            {"key": "CriticalAddonsOnly", "operator": "Exists"},
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        ),
        ("nodeSelector",),
        affinity=("affinity",),
        default_affinity=_NVIDIA_NFD_AFFINITY,
        source="NVIDIA/k8s-device-plugin v0.17.1 deployments/helm/nvidia-device-plugin/values.yaml",
    ),
    DaemonSetChart(
        "dcgm-exporter",
        "node-agent",
        ("3.6.1",),
        ("tolerations",),
        (),
        ("nodeSelector",),
        affinity=("affinity",),
        source="NVIDIA/dcgm-exporter deployment/values.yaml (charts 3.5.0-3.7.0: tolerations [])",
    ),
    DaemonSetChart(
        "kube-prometheus-stack",
        "node-agent",
        ("65.1.1",),
        ("prometheus-node-exporter", "tolerations"),
        ({"effect": "NoSchedule", "operator": "Exists"},),
        ("prometheus-node-exporter", "nodeSelector"),
        {"kubernetes.io/os": "linux"},
        source="prometheus-community/helm-charts prometheus-node-exporter-4.39.0 (kube-prometheus-stack-65.1.1 dep)",
    ),
)


def _at(values: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(values, Mapping) or key not in values:
            return None
        values = values[key]
    return values


@dataclass(frozen=True)
class DaemonSet:
    """A DaemonSet as our Helm values make it."""

    release: Resource
    spec: DaemonSetChart
    version: str
    tolerations: list[Mapping[str, Any]]
    node_selector: Mapping[str, str]
    affinity: Mapping[str, Any]

    @property
    def label(self) -> str:
        return f"{self.spec.chart} {self.version} (release {self.release['name']})"


def daemonsets(graph: Graph) -> list[DaemonSet]:
    found = []
    for release in of_type(graph, HELM_RELEASE):
        inputs = inputs_of(release)
        values = inputs.get("values") or {}
        for spec in DAEMONSET_CHARTS:
            if inputs.get("chart") != spec.chart:
                continue
            tolerations = _at(values, spec.tolerations)
            selector = _at(values, spec.node_selector) if spec.node_selector else None
            affinity = _at(values, spec.affinity) if spec.affinity else None
            found.append(
                DaemonSet(
                    release,
                    spec,
                    str(inputs.get("version") or ""),
                    list(spec.default_tolerations if tolerations is None else as_list(tolerations)),
                    {**spec.default_node_selector, **(selector or {})},
                    dict(spec.default_affinity if affinity is None else affinity),
                )
            )
    return found


# -- node pools and pods -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodePool:
    resource: Resource
    labels: Mapping[str, str]
    taints: tuple[Mapping[str, str], ...]

    @property
    def label(self) -> str:
        return str(self.labels.get("mlplat/pool") or self.resource["name"])


def node_pools(index: GraphIndex) -> list[NodePool]:
    """Self-managed groups describe their nodes in cluster-autoscaler node-template tags; managed groups in inputs."""
    pools = []
    for group in index.of_type(ASG):
        tags = {
            str(t.get("key")): str(t.get("value"))
            for t in as_list(inputs_of(group).get("tags"))
            if isinstance(t, Mapping)
        }
        labels = {
            k.removeprefix(NODE_TEMPLATE + "label/"): v
            for k, v in tags.items()
            if k.startswith(NODE_TEMPLATE + "label/")
        }
        taints: list[Mapping[str, str]] = []
        for key, value in tags.items():
            if key.startswith(NODE_TEMPLATE + "taint/"):
                taint_value, _, effect = value.rpartition(":")
                taints.append(
                    {"key": key.removeprefix(NODE_TEMPLATE + "taint/"), "value": taint_value, "effect": effect}
                )
        if labels or taints:
            pools.append(NodePool(group, labels, tuple(taints)))
    for group in index.of_type(NODE_GROUP):
        inputs = inputs_of(group)
        managed_taints = tuple(
            {
                "key": str(t.get("key", "")),
                "value": str(t.get("value", "")),
                "effect": EKS_EFFECTS.get(str(t.get("effect")), ""),
            }
            for t in as_list(inputs.get("taints"))
            if isinstance(t, Mapping)
        )
        pools.append(NodePool(group, dict(inputs.get("labels") or {}), managed_taints))
    return pools


def tolerates(tolerations: Sequence[Mapping[str, Any]], taint: Mapping[str, str]) -> bool:
    """Kubernetes' toleration matching (empty key with Exists matches every taint; empty effect every effect)."""
    for toleration in tolerations:
        operator = toleration.get("operator") or "Equal"
        key = toleration.get("key") or ""
        if key and key != taint["key"]:
            continue
        if not key and operator != "Exists":
            continue
        effect = toleration.get("effect") or ""
        if effect and effect != taint["effect"]:
            continue
        if operator == "Exists" or str(toleration.get("value") or "") == taint.get("value", ""):
            return True
    return False


def _expression_holds(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator = str(expression.get("key")), expression.get("operator")
    values = [str(v) for v in as_list(expression.get("values"))]
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    return False


def selects(node_selector: Mapping[str, Any], affinity: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a pod (or DaemonSet) with this nodeSelector and required node affinity may run on `labels`."""
    if any(labels.get(k) != str(v) for k, v in (node_selector or {}).items()):
        return False
    required = _at(affinity or {}, ("nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"))
    terms = as_list((required or {}).get("nodeSelectorTerms"))
    if not terms:
        return True
    return any(all(_expression_holds(e, labels) for e in as_list(t.get("matchExpressions"))) for t in terms)


@dataclass(frozen=True)
class Pod:
    owner: Resource
    namespace: str
    spec: Mapping[str, Any]


def pods(graph: Graph) -> Iterator[Pod]:
    for resource in of_type(graph, *POD_TEMPLATE_TYPES):
        inputs = inputs_of(resource)
        spec = inputs.get("spec") or {}
        template = _at(spec, ("jobTemplate", "spec", "template")) if "jobTemplate" in spec else spec.get("template")
        namespace = str(_at(inputs, ("metadata", "namespace")) or "default")
        yield Pod(resource, namespace, dict((template or {}).get("spec") or {}))


def of_type(graph: Graph, *types: str) -> Iterator[Resource]:
    """Resources of any provider (GraphIndex holds only AWS resources)."""
    return (r for r in graph["resources"] if r["type"] in types)


def _kubernetes(graph: Graph) -> Iterator[Resource]:
    return (r for r in graph["resources"] if str(r["type"]).startswith("kubernetes:"))


def landing_pools(pod: Pod, pools: Sequence[NodePool]) -> list[NodePool]:
    """The pools the scheduler may place this pod on: selected by it and every taint tolerated."""
    tolerations = [dict(t) for t in as_list(pod.spec.get("tolerations"))]
    return [
        pool
        for pool in pools
        if selects(pod.spec.get("nodeSelector") or {}, pod.spec.get("affinity") or {}, pool.labels)
        and all(tolerates(tolerations, taint) for taint in pool.taints if taint["effect"] != "PreferNoSchedule")
    ]


def needs(pod: Pod, graph: Graph) -> list[str]:
    """What node-level DaemonSets a pod cannot start without."""
    wanted: list[str] = []
    for volume in as_list(pod.spec.get("volumes")):
        csi = (volume or {}).get("csi") or {}
        if csi.get("driver") != SECRETS_STORE_DRIVER:
            continue
        wanted.append("csi-driver")
        class_name = (csi.get("volumeAttributes") or {}).get("secretProviderClass")
        for spc in of_type(graph, SECRET_PROVIDER_CLASS):
            metadata = inputs_of(spc).get("metadata") or {}
            if metadata.get("name") == class_name and (metadata.get("namespace") or "default") == pod.namespace:
                wanted.append(f"csi-provider:{(inputs_of(spc).get('spec') or {}).get('provider')}")
    for container in as_list(pod.spec.get("containers")) + as_list(pod.spec.get("initContainers")):
        resources = (container or {}).get("resources") or {}
        for resource_name in {**(resources.get("limits") or {}), **(resources.get("requests") or {})}:
            if "/" in resource_name and not resource_name.startswith(("kubernetes.io/", "hugepages-")):
                wanted.append(f"device:{resource_name}")
    return list(dict.fromkeys(wanted))


# -- 1. secrets and data keys -----------------------------------------------------------------------------------


def _secret_sources(index: GraphIndex) -> list[tuple[Resource, str, Any]]:
    """(resource, a name its ARN ends with, the key encrypting it) for Secrets Manager secrets and RDS-managed
    master secrets (`manage_master_user_password`: RDS names the secret `rds!db-...`)."""
    found: list[tuple[Resource, str, Any]] = []
    for secret in index.of_type(SECRET):
        name = str(inputs_of(secret).get("name") or secret["name"])
        found.append((secret, name, inputs_of(secret).get("kmsKeyId")))
    for database in index.of_type(RDS_INSTANCE, RDS_CLUSTER):
        inputs = inputs_of(database)
        if inputs.get("manageMasterUserPassword") is True:
            found.append(
                (
                    database,
                    f"rds!{'cluster' if database['type'] == RDS_CLUSTER else 'db'}-",
                    inputs.get("masterUserSecretKmsKeyId"),
                )
            )
    return found


def _secret_for(arn: str, sources: list[tuple[Resource, str, Any]]) -> tuple[Resource, str, Any] | None:
    tail = arn.split(":secret:", 1)[-1] if ":secret:" in arn else arn.rsplit(":", 1)[-1]
    for source in sources:
        resource, name, _ = source
        if resource["type"] == SECRET:
            if (
                tail == name
                or tail.startswith(f"{name}-")
                or tail in {resource["name"], resource.get("id")}
                or arn.endswith(f":{resource['name']}")
            ):
                return source
        elif tail.startswith(name):
            return source
    return None


def _secret_arns_in(value: Any) -> Iterator[str]:
    for match in re.finditer(r"arn:aws[a-z-]*:secretsmanager:[^\s\"',\]\\]+", str(value)):
        yield match.group(0)


def _readers_of_secrets(graph: Graph, access: RoleAccess) -> Iterator[tuple[Resource, Resource, str, str]]:
    """(role, the resource that made it a reader, secret ARN, how) for every IAM grant and every CSI mount."""
    for role in access.roles():
        for statement in access.statements_of(role):
            if statement.get("Effect") != "Allow":
                continue
            actions = [str(a).lower() for a in as_list(statement.get("Action"))]
            if not any(a in {"secretsmanager:getsecretvalue", "secretsmanager:*", "*"} for a in actions):
                continue
            for resource in as_list(statement.get("Resource")):
                if ":secretsmanager:" in str(resource):
                    yield role, role, str(resource), "reads it through IAM"
    service_accounts = {
        ((inputs_of(sa).get("metadata") or {}).get("namespace"), (inputs_of(sa).get("metadata") or {}).get("name")): sa
        for sa in of_type(graph, SERVICE_ACCOUNT)
    }
    for pod in pods(graph):
        account = service_accounts.get((pod.namespace, pod.spec.get("serviceAccountName") or "default"))
        metadata = inputs_of(account).get("metadata") or {} if account is not None else {}
        role_arn = (metadata.get("annotations") or {}).get("eks.amazonaws.com/role-arn")
        mounter = access.role(role_arn)
        if mounter is None:
            continue
        for volume in as_list(pod.spec.get("volumes")):
            class_name = (((volume or {}).get("csi") or {}).get("volumeAttributes") or {}).get("secretProviderClass")
            for spc in of_type(graph, SECRET_PROVIDER_CLASS):
                metadata = inputs_of(spc).get("metadata") or {}
                if metadata.get("name") == class_name and metadata.get("namespace") == pod.namespace:
                    for arn in _secret_arns_in((inputs_of(spc).get("spec") or {}).get("parameters")):
                        yield mounter, pod.owner, arn, f"mounts it through SecretProviderClass {class_name}"


@RULES.graph_rule(
    "mlplat-deploy-secret-key-decrypt",
    "mandatory",
    "Whoever reads a secret (IAM or a SecretProviderClass mount) can decrypt its KMS key through Secrets Manager.",
    FAMILY,
)
def secret_key_decrypt(graph: Graph, context: StackContext) -> Iterator[tuple[Resource, str]]:
    index = GraphIndex.of(graph)
    access = RoleAccess(index)
    sources = _secret_sources(index)
    seen: set[tuple[int, str]] = set()
    for role, via, arn, how in _readers_of_secrets(graph, access):
        source = _secret_for(arn, sources)
        if source is None or source[2] is None or (id(role), arn) in seen:
            continue  # not a secret of this stack, or the AWS-managed key (which every reader in the account may use)
        seen.add((id(role), arn))
        key_arn, key = key_arn_of(index, source[2])
        request = {
            "kms:ViaService": f"secretsmanager.{context.region}.amazonaws.com",
            "kms:CallerAccount": account_of(index),
            "kms:EncryptionContext:SecretARN": arn,
        }
        if not access.allows(role, "secretsmanager:GetSecretValue", arn):
            yield via, f"role {role['name']} {how} ({arn}) but has no secretsmanager:GetSecretValue on it"
        if not key_allows(key_arn, key, access, role, "kms:Decrypt", request):
            yield (
                via,
                f"role {role['name']} {how} ({arn}) but cannot kms:Decrypt its key {key_arn} via Secrets Manager "
                f"(kms:ViaService secretsmanager.{context.region}.amazonaws.com)",
            )


def _bucket_keys(index: GraphIndex) -> dict[str, tuple[Resource, Any]]:
    """Bucket name -> (bucket, the KMS key of its default encryption)."""
    found: dict[str, tuple[Resource, Any]] = {}
    for config in index.of_type(*SSE_TYPES):
        bucket = index.resolve(inputs_of(config).get("bucket"), BUCKET_TYPES)
        if bucket is None:
            continue
        for rule in as_list(inputs_of(config).get("rules")):
            default = first(first(rule).get("applyServerSideEncryptionByDefault"))
            if str(default.get("sseAlgorithm", "")).startswith("aws:kms") and default.get("kmsMasterKeyId"):
                name = str(inputs_of(bucket).get("bucket") or bucket["name"])
                found[name] = (bucket, default["kmsMasterKeyId"])
    return found


GLUE_READS = ("glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions")


@RULES.graph_rule(
    "mlplat-deploy-data-key-decrypt",
    "mandatory",
    "Whoever reads objects of a KMS-encrypted bucket, or an encrypted Glue Data Catalog, can decrypt its key "
    "through that service.",
    FAMILY,
)
def data_key_decrypt(graph: Graph, context: StackContext) -> Iterator[tuple[Resource, str]]:
    index = GraphIndex.of(graph)
    access = RoleAccess(index)
    account = account_of(index)
    buckets = _bucket_keys(index)
    for role in access.roles():
        for name, (_, key_reference) in sorted(buckets.items()):
            object_arn = f"arn:aws:s3:::{name}/*"
            if not any(
                access.allows(role, "s3:GetObject", candidate)
                for candidate in (
                    object_arn,
                    f"arn:aws:s3:::{name}/x",
                    f"arn:aws:s3:::{name}/{_prefix_of(access, role, name)}x",
                )
            ):
                continue
            key_arn, key = key_arn_of(index, key_reference)
            request = {
                "kms:ViaService": f"s3.{context.region}.amazonaws.com",
                "kms:CallerAccount": account,
                "kms:EncryptionContext:aws:s3:arn": f"arn:aws:s3:::{name}",
            }
            if not key_allows(key_arn, key, access, role, "kms:Decrypt", request):
                yield role, f"role {role['name']} reads objects of bucket {name} but cannot kms:Decrypt its key via S3"
    for settings in index.of_type(GLUE_ENCRYPTION):
        at_rest = first(first(inputs_of(settings).get("dataCatalogEncryptionSettings")).get("encryptionAtRest"))
        if at_rest.get("catalogEncryptionMode") != "SSE-KMS":
            continue
        key_arn, key = key_arn_of(index, at_rest.get("sseAwsKmsKeyId"))
        if at_rest.get("catalogEncryptionServiceRole"):
            continue  # Glue decrypts with its own role, not the caller's
        catalog = f"arn:aws:glue:{context.region}:{account}:catalog"
        request = {"kms:ViaService": f"glue.{context.region}.amazonaws.com", "kms:CallerAccount": account}
        for role in access.roles():
            if not any(access.allows(role, action, catalog) for action in GLUE_READS):
                continue
            if not key_allows(key_arn, key, access, role, "kms:Decrypt", request):
                yield (
                    role,
                    f"role {role['name']} reads the encrypted Glue Data Catalog but cannot kms:Decrypt {key_arn} via "
                    f"glue.{context.region}.amazonaws.com (Glue decrypts with the caller's permissions)",
                )


def _prefix_of(access: RoleAccess, role: Resource, bucket: str) -> str:
    """The object prefix a role's grant names in `bucket` (`predictions/model/`), so prefix grants count as reads."""
    for statement in access.statements_of(role):
        for resource in as_list(statement.get("Resource")):
            text = str(resource)
            if text.startswith(f"arn:aws:s3:::{bucket}/") and text.endswith("*"):
                return text.removeprefix(f"arn:aws:s3:::{bucket}/").rstrip("*")
    return ""


# -- 2. DaemonSets on tainted pools ------------------------------------------------------------------------------


@RULES.graph_rule(
    "mlplat-deploy-daemonset-tolerations",
    "mandatory",
    "Every DaemonSet a pod depends on (CSI driver and provider, device plugin, node agents) runs on every node "
    "pool the pod may land on: it selects the pool and tolerates all its taints.",
    FAMILY,
)
def daemonset_tolerations(graph: Graph, _: StackContext) -> Iterator[tuple[Resource, str]]:
    index = GraphIndex.of(graph)
    pools = node_pools(index)
    sets = daemonsets(graph)
    for daemonset in sets:
        if daemonset.version not in daemonset.spec.verified:
            yield (
                daemonset.release,
                f"{daemonset.label}: the toleration table was checked against {', '.join(daemonset.spec.verified)} "
                "only; read that version's values.yaml and update DAEMONSET_CHARTS",
            )
    reported: set[tuple[int, int]] = set()
    for pod in pods(graph):
        for pool in landing_pools(pod, pools):
            for need in needs(pod, graph):
                yield from _dependency_problems(pod, pool, need, sets, reported)
    for pool in pools:
        for daemonset in sets:
            if daemonset.spec.provides != "node-agent" or (id(daemonset.release), id(pool.resource)) in reported:
                continue
            if selects(daemonset.node_selector, daemonset.affinity, pool.labels):
                problem = _cannot_run_on(daemonset, pool)
                if problem:
                    yield daemonset.release, f"{daemonset.label} selects pool {pool.label} but {problem} it"


def _dependency_problems(
    pod: Pod, pool: NodePool, need: str, sets: Sequence[DaemonSet], reported: set[tuple[int, int]]
) -> Iterator[tuple[Resource, str]]:
    providers = [d for d in sets if d.spec.provides == need]
    if not providers:
        yield pod.owner, f"runs on pool {pool.label} and needs a {need} DaemonSet, but no release provides one"
    for daemonset in providers:
        problem = _cannot_run_on(daemonset, pool)
        if problem and (id(daemonset.release), id(pool.resource)) not in reported:
            reported.add((id(daemonset.release), id(pool.resource)))
            where = f"pool {pool.label}, where {pod.owner['name']} needs it ({need})"
            yield daemonset.release, f"{daemonset.label} {problem} {where}"


def _cannot_run_on(daemonset: DaemonSet, pool: NodePool) -> str | None:
    if not selects(daemonset.node_selector, daemonset.affinity, pool.labels):
        return "does not select"
    missing = [t for t in pool.taints if t["effect"] != "PreferNoSchedule" and not tolerates(daemonset.tolerations, t)]
    if missing:
        taints = ", ".join(f"{t['key']}={t['value']}:{t['effect']}" for t in missing)
        path = ".".join(daemonset.spec.tolerations)
        return f"does not tolerate {taints} (values `{path}`) on"
    return None


# -- 3. storage classes ------------------------------------------------------------------------------------------


def _storage_class_names(value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == "storageClassName" and isinstance(item, str) and item:
                yield item
            else:
                yield from _storage_class_names(item)
    elif isinstance(value, list):
        for item in value:
            yield from _storage_class_names(item)


@RULES.graph_rule(
    "mlplat-deploy-storage-class-exists",
    "mandatory",
    "Every StorageClass a claim or chart names is created in the stack; otherwise the claim stays Pending while "
    "the release reports success.",
    FAMILY,
)
def storage_class_exists(graph: Graph, _: StackContext) -> Iterator[tuple[Resource, str]]:
    created = {str(_at(inputs_of(c), ("metadata", "name"))) for c in of_type(graph, STORAGE_CLASS)}
    for resource in _kubernetes(graph):
        if resource["type"] == STORAGE_CLASS:
            continue
        for name in sorted(set(_storage_class_names(inputs_of(resource)))):
            if name not in created:
                yield resource, f"uses StorageClass {name!r}, which this stack does not create"


# -- 4. deploy path to the cluster -------------------------------------------------------------------------------


def deploy_role_arn(index: GraphIndex, context: StackContext) -> str:
    return f"arn:aws:iam::{account_of(index)}:role/{context.settings.deploy_role.format(stack=context.stack)}"


@RULES.graph_rule(
    "mlplat-deploy-cluster-endpoint-path",
    "mandatory",
    "The stack's deploy principal can reach and administer every cluster: a CIDR-limited public endpoint or 443 "
    "into the cluster security group from a runner that is not a node, and an access entry with cluster admin.",
    FAMILY,
)
def cluster_endpoint_path(graph: Graph, context: StackContext) -> Iterator[tuple[Resource, str]]:
    index = GraphIndex.of(graph)
    deployer = deploy_role_arn(index, context)
    node_groups = _node_security_groups(index)
    for cluster in index.of_type(EKS_CLUSTER):
        vpc = first(inputs_of(cluster).get("vpcConfig"))
        public_cidrs = [str(c) for c in as_list(vpc.get("publicAccessCidrs"))]
        public = (
            vpc.get("endpointPublicAccess") is True and public_cidrs and not any(c.endswith("/0") for c in public_cidrs)
        )
        if not public and not _runner_ingress(index, cluster, vpc, node_groups):
            yield (
                cluster,
                "no deploy path to the Kubernetes API: the endpoint is private and no ingress rule on 443 admits a "
                "runner (a security group or CIDR other than the nodes') into the cluster security group",
            )
        if not _has_admin_entry(index, cluster, deployer):
            yield cluster, f"the deploy role {deployer} has no access entry with {CLUSTER_ADMIN_POLICY} on this cluster"


def _node_security_groups(index: GraphIndex) -> set[int]:
    groups: set[int] = set()
    for template in index.of_type(LAUNCH_TEMPLATE):
        for reference in as_list(inputs_of(template).get("vpcSecurityGroupIds")):
            group = index.resolve(reference, (SECURITY_GROUP,))
            if group is not None:
                groups.add(id(group))
    return groups


def _runner_ingress(index: GraphIndex, cluster: Resource, vpc: Mapping[str, Any], node_groups: set[int]) -> bool:
    cluster_groups = {id(g) for r in as_list(vpc.get("securityGroupIds")) if (g := index.resolve(r, (SECURITY_GROUP,)))}
    for rule in index.of_type(INGRESS_RULE, SG_RULE):
        inputs = inputs_of(rule)
        if rule["type"] == SG_RULE and inputs.get("type") != "ingress":
            continue
        owner = index.resolve(inputs.get("securityGroupId"), (SECURITY_GROUP,))
        if owner is None or id(owner) not in cluster_groups:
            continue
        if not (_as_int(inputs.get("fromPort")) <= 443 <= _as_int(inputs.get("toPort"), 65535)):
            continue
        source = inputs.get("referencedSecurityGroupId") or inputs.get("sourceSecurityGroupId")
        if source is not None:
            group = index.resolve(source, (SECURITY_GROUP,))
            if group is None or id(group) not in node_groups:
                return True
        cidrs = [c for c in [inputs.get("cidrIpv4"), *as_list(inputs.get("cidrBlocks"))] if c]
        if any(not str(c).endswith("/0") for c in cidrs):
            return True
    return False


def _as_int(value: Any, default: int = 0) -> int:
    return int(value) if isinstance(value, int | float) else default


def _has_admin_entry(index: GraphIndex, cluster: Resource, principal: str) -> bool:
    names = {str(inputs_of(cluster).get("name")), cluster["name"], str(cluster.get("id"))}
    entries = [
        e
        for e in index.of_type(ACCESS_ENTRY)
        if str(inputs_of(e).get("clusterName")) in names and inputs_of(e).get("principalArn") == principal
    ]
    associations = [
        a
        for a in index.of_type(ACCESS_POLICY)
        if str(inputs_of(a).get("clusterName")) in names
        and inputs_of(a).get("principalArn") == principal
        and str(inputs_of(a).get("policyArn", "")).endswith(f"/{CLUSTER_ADMIN_POLICY}")
    ]
    return bool(entries and associations)


# -- 5. bucket policies and the deployer -------------------------------------------------------------------------


@RULES.graph_rule(
    "mlplat-deploy-bucket-policy-management-reads",
    "mandatory",
    "No bucket-policy Deny matches the stack's deploy principal for the management reads every refresh makes "
    "(HeadBucket, GetBucketPolicy, ...), or `pulumi refresh` and every later update get 403.",
    FAMILY,
)
def bucket_policy_management(graph: Graph, context: StackContext) -> Iterator[tuple[Resource, str]]:
    index = GraphIndex.of(graph)
    deployer = deploy_role_arn(index, context)
    # A deploy from CI: TLS, outside any VPC endpoint, as the deploy role in this account.
    request = {
        "aws:PrincipalArn": deployer,
        "aws:PrincipalAccount": account_of(index),
        "aws:SecureTransport": "true",
        "aws:ViaAWSService": "false",
    }
    for bucket_policy in index.of_type(BUCKET_POLICY):
        bucket = index.resolve(inputs_of(bucket_policy).get("bucket"), BUCKET_TYPES)
        name = (
            str(inputs_of(bucket).get("bucket") or bucket["name"])
            if bucket
            else str(inputs_of(bucket_policy).get("bucket"))
        )
        for statement in statements(policy_document(inputs_of(bucket_policy).get("policy"))):
            if statement.get("Effect") != "Deny" or not principal_matches(statement.get("Principal"), deployer):
                continue
            denied = [
                action
                for action in BUCKET_MANAGEMENT_READS
                if _deny_applies(statement, action, f"arn:aws:s3:::{name}", request)
            ]
            if denied:
                sid = statement.get("Sid") or "a Deny statement"
                yield bucket_policy, f"{sid} denies the deploy role {deployer} {', '.join(denied)} on bucket {name}"


def _deny_applies(statement: Mapping[str, Any], action: str, resource: str, request: Mapping[str, Any]) -> bool:
    return statement_matches(statement, action, resource, request)


# -- 6. engine versions ------------------------------------------------------------------------------------------


def _version_problem(engine: str, version: str) -> str | None:
    """With automatic minor upgrades on, AWS moves the engine forward; a pin finer than the major version then
    shows as a downgrade diff (RDS) or cannot be created once that minor is retired."""
    parts = version.split(".")
    if engine in {"postgres", "aurora-postgresql"} and len(parts) > 1 and int(parts[0] or 0) >= 10:
        return f"pins PostgreSQL {version}; with auto minor upgrades pin the major version only ({parts[0]})"
    if engine in {"mysql", "mariadb", "aurora-mysql"} and len(parts) > 2:
        return f"pins {engine} {version}; with auto minor upgrades pin major.minor only ({'.'.join(parts[:2])})"
    if engine in {"redis", "valkey"} and len(parts) > 2:
        return f"pins {engine} {version}; with auto minor upgrades pin major.minor only ({'.'.join(parts[:2])})"
    return None


@RULES.graph_rule(
    "mlplat-deploy-engine-version-granularity",
    "mandatory",
    "Engine versions are pinned only as finely as the engine's automatic upgrades allow, so AWS upgrading a "
    "minor version never becomes a downgrade diff or an uncreatable version.",
    FAMILY,
)
def engine_version_granularity(graph: Graph, _: StackContext) -> Iterator[tuple[Resource, str]]:
    index = GraphIndex.of(graph)
    for database in index.of_type(RDS_INSTANCE, RDS_CLUSTER, REPLICATION_GROUP):
        inputs = inputs_of(database)
        # RDS and ElastiCache both default automatic minor upgrades to on.
        if inputs.get("autoMinorVersionUpgrade") is False or not inputs.get("engineVersion"):
            continue
        problem = _version_problem(str(inputs.get("engine") or "redis"), str(inputs["engineVersion"]))
        if problem:
            yield database, problem


# -- 7. the first `pulumi up` ------------------------------------------------------------------------------------


def _ecr_repository(image: str) -> str | None:
    match = re.match(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?/([^:@]+)", image)
    return match.group(1) if match else None


@RULES.graph_rule(
    "mlplat-deploy-first-up-not-blocked",
    "mandatory",
    "A workload whose image or model the stack does not create (images pushed after the deploy, a model registered "
    "later) does not make `pulumi up` wait for it: it skips the await or starts at zero replicas.",
    FAMILY,
)
def first_up_not_blocked(graph: Graph, _: StackContext) -> Iterator[tuple[Resource, str]]:
    index = GraphIndex.of(graph)
    repositories = {str(inputs_of(r).get("name")) for r in index.of_type(ECR_REPOSITORY)}
    for workload in of_type(graph, *AWAITED_TYPES):
        inputs = inputs_of(workload)
        annotations = _at(inputs, ("metadata", "annotations")) or {}
        if str(annotations.get(SKIP_AWAIT, "")).lower() == "true" or _at(inputs, ("spec", "replicas")) == 0:
            continue
        spec = _at(inputs, ("spec", "template", "spec")) or {}
        reasons = []
        for container in as_list(spec.get("containers")):
            repository = _ecr_repository(str((container or {}).get("image") or ""))
            if repository is not None and repository not in repositories:
                reasons.append(f"image {repository} is pushed outside this stack")
            env = {e.get("name"): e for e in as_list((container or {}).get("env")) if isinstance(e, Mapping)}
            if "MLPLAT_MODEL_NAME" in env:
                reasons.append(f"it is ready only once model {env['MLPLAT_MODEL_NAME'].get('value')} is registered")
        if reasons:
            yield (
                workload,
                f"`pulumi up` waits for it to become ready, but {'; '.join(dict.fromkeys(reasons))}: set the "
                f"{SKIP_AWAIT} annotation or start at zero replicas",
            )
