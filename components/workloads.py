"""The runtime workloads of a regional cluster, in namespace `mlplat`: the serving Deployment on the inference GPU
pool (PDB, HPA, ServiceMonitor), the drift CronJob, the residency ConfigMap both read, the regional prediction-log
bucket, and the Secrets Store CSI driver (AWS provider) that mounts Secrets Manager secrets as files.

Both containers get exactly the `MLPLAT_*` environment `mlplat dev` sets, built by `ServingEnvironment` and
`DriftEnvironment` (components/runtime_settings.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import yaml

from components import pod_specs
from components.config import WorkloadsConfig
from components.eks_cluster import ClusterRef
from components.eks_versions import HelmChart
from components.feature_store import FEATURES_NAMESPACE, READER_SERVICE_ACCOUNT
from components.iam_documents import document, irsa_trust
from components.naming import region_code
from components.runtime_settings import DriftEnvironment, ServingEnvironment
from components.secure_bucket import Lifecycle, SecureBucket, SecureBucketArgs

NAMESPACE = FEATURES_NAMESPACE  # "mlplat": the feature store's IRSA roles trust service accounts here
SERVING_SERVICE_ACCOUNT = READER_SERVICE_ACCOUNT  # serving reuses the feature store's reader role
DRIFT_SERVICE_ACCOUNT = "drift"
SERVING_PORT = 8080
RESIDENCY_DIR = "/etc/mlplat/residency"
RESIDENCY_FILE = f"{RESIDENCY_DIR}/residency.yaml"
SECRETS_DIR = "/mnt/secrets/feature-store"
REDIS_TOKEN_FILE = f"{SECRETS_DIR}/redis-token"
MODEL_CACHE_DIR = "/var/cache/mlplat/models"
INFERENCE_POOL = "inference"
PREDICTIONS_PREFIX = "predictions"
# Pinned charts; versions are published releases, not verified against a live repository from here.
CSI_CHARTS = {
    "secrets-store-csi-driver": HelmChart(
        "secrets-store-csi-driver", "1.4.7", "https://kubernetes-sigs.github.io/secrets-store-csi-driver/charts"
    ),
    "secrets-store-csi-driver-provider-aws": HelmChart(
        "secrets-store-csi-driver-provider-aws", "0.3.9", "https://aws.github.io/secrets-store-csi-driver-provider-aws"
    ),
}


@dataclass(frozen=True, kw_only=True)
class WorkloadsArgs:
    cluster: ClusterRef
    region: str
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    settings: WorkloadsConfig
    tracking_uri: str
    residency: Mapping[str, object]  # {"jurisdictions": ..., "tenants": ...} in the shape of stacks/platform.yaml
    redis_host: pulumi.Input[str]
    redis_token_secret_arn: pulumi.Input[str]
    feature_key_arn: pulumi.Input[str]  # the regional feature-store key: predictions hold features
    feature_reader_role_arn: pulumi.Input[str]
    access_log_bucket: pulumi.Input[str]
    pushgateway_url: str
    after: Sequence[pulumi.Resource] = ()  # e.g. the kube-prometheus-stack release (ServiceMonitor CRD)
    system_node_selector: Mapping[str, str] = field(default_factory=lambda: {"mlplat/pool": "system"})
    tags: Mapping[str, str] = field(default_factory=dict)


def model_bucket_name(region: str) -> str:
    """The global stack's model bucket in this region (primary or read replica, see ModelArtifacts)."""
    return f"mlplat-models-{region_code(region)}"


def prediction_bucket_name(region: str) -> str:
    return f"mlplat-predictions-{region_code(region)}"


def _kms_through_s3(partition: str, region: str, account_id: str, bucket: str, actions: Sequence[str]) -> dict:
    return {
        "Effect": "Allow",
        "Action": list(actions),
        "Resource": f"arn:{partition}:kms:{region}:{account_id}:key/*",
        "Condition": {
            "StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"},
            "ArnLike": {"kms:EncryptionContext:aws:s3:arn": f"arn:{partition}:s3:::{bucket}"},
        },
    }


def serving_policy(partition: str, region: str, account_id: str, model_prefix: str) -> str:
    """Added to the feature reader: read this region's model bucket, append to this region's prediction log."""
    models, predictions = model_bucket_name(region), prediction_bucket_name(region)
    return document(
        [
            {
                "Sid": "ListModels",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": f"arn:{partition}:s3:::{models}",
            },
            {
                "Sid": "ReadModels",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": f"arn:{partition}:s3:::{models}/*",
            },
            {
                "Sid": "WritePredictionLog",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": f"arn:{partition}:s3:::{predictions}/{model_prefix}/*",
            },
            {"Sid": "ModelKey", **_kms_through_s3(partition, region, account_id, models, ["kms:Decrypt"])},
            {
                "Sid": "PredictionKey",
                **_kms_through_s3(partition, region, account_id, predictions, ["kms:GenerateDataKey", "kms:Decrypt"]),
            },
        ]
    )


def drift_policy(partition: str, region: str, account_id: str, model_prefix: str) -> str:
    """The drift job: read this region's prediction log of its model, write its reports beside it."""
    predictions = prediction_bucket_name(region)
    bucket_arn = f"arn:{partition}:s3:::{predictions}"
    return document(
        [
            {
                "Sid": "ListPredictionLog",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": bucket_arn,
                "Condition": {"StringLike": {"s3:prefix": [f"{model_prefix}/*", model_prefix]}},
            },
            {
                "Sid": "ReadPredictionLog",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": f"{bucket_arn}/{model_prefix}/*",
            },
            {
                "Sid": "WriteReports",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/{model_prefix}/_drift/*",
            },
            {
                "Sid": "PredictionKey",
                **_kms_through_s3(partition, region, account_id, predictions, ["kms:Decrypt", "kms:GenerateDataKey"]),
            },
            {
                "Sid": "RetrainEvents",
                "Effect": "Allow",
                "Action": "events:PutEvents",
                "Resource": f"arn:{partition}:events:{region}:{account_id}:event-bus/default",
            },
        ]
    )


class Workloads(pulumi.ComponentResource):
    def __init__(self, name: str, args: WorkloadsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplat:index:Workloads", name, None, opts)
        self._args = args
        self._name = name
        settings = args.settings
        cluster = args.cluster
        child = pulumi.ResourceOptions(parent=self)
        self.on_cluster = pulumi.ResourceOptions(parent=self, provider=cluster.kubernetes_provider)
        self.prediction_bucket = SecureBucket(
            f"{name}-predictions",
            SecureBucketArgs(
                bucket_name=prediction_bucket_name(args.region),
                kms_key_arn=args.feature_key_arn,
                lifecycle=Lifecycle(
                    infrequent_access_after=30, glacier_after=None, expire_after=settings.prediction_log_expire_days
                ),
                access_log_bucket=args.access_log_bucket,
                tags={**args.tags, "mlplat/data-class": "features", "mlplat/residency": args.region},
            ),
            opts=child,
        )
        self.model_prefix = f"{PREDICTIONS_PREFIX}/{settings.model_name}"
        self.prediction_log_uri = f"s3://{prediction_bucket_name(args.region)}/{self.model_prefix}"
        self.csi = [
            self._chart(
                key,
                "kube-system",
                {"syncSecret": {"enabled": False}, "enableSecretRotation": True}
                if key == "secrets-store-csi-driver"
                else {"secrets-store-csi-driver": {"install": False}},
            )
            for key in CSI_CHARTS
        ]
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata={"name": NAMESPACE, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
            opts=self.on_cluster,
        )
        self.in_ns = pulumi.ResourceOptions(
            parent=self, provider=cluster.kubernetes_provider, depends_on=[self.namespace, *self.csi, *args.after]
        )
        k8s.core.v1.ConfigMap(
            f"{name}-residency",
            metadata={"name": "residency", "namespace": NAMESPACE},
            data={"residency.yaml": yaml.safe_dump(dict(args.residency), sort_keys=True)},
            opts=self.in_ns,
        )
        self._serving()
        self._drift()
        self.register_outputs(
            {
                "prediction_bucket": self.prediction_bucket.name,
                "prediction_log_uri": self.prediction_log_uri,
                "drift_role_arn": self.drift_role.arn,
            }
        )

    def _chart(self, key: str, namespace: str, values: dict) -> k8s.helm.v3.Release:
        chart = CSI_CHARTS[key]
        return k8s.helm.v3.Release(
            f"{self._name}-{key}",
            name=key,
            chart=chart.chart,
            version=chart.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
            namespace=namespace,
            values=values,
            opts=self.on_cluster,
        )

    def _image(self, repository: str, tag: str) -> pulumi.Output[str]:
        region = self._args.region
        return pulumi.Output.from_input(self._args.account_id).apply(
            lambda account: pod_specs.ecr_image(account, region, repository, tag)
        )

    def _serving(self) -> None:
        args, name, settings = self._args, self._name, self._args.settings
        child = pulumi.ResourceOptions(parent=self)
        aws.iam.RolePolicy(
            f"{name}-serving-models",
            role=pulumi.Output.from_input(args.feature_reader_role_arn).apply(lambda arn: arn.rsplit("/", 1)[-1]),
            policy=pulumi.Output.all(args.partition, args.account_id).apply(
                lambda v: serving_policy(v[0], args.region, v[1], self.model_prefix)
            ),
            opts=child,
        )
        labels = {"app.kubernetes.io/name": "serving", "app.kubernetes.io/part-of": "mlplat"}
        k8s.core.v1.ServiceAccount(
            f"{name}-serving-sa",
            metadata={
                "name": SERVING_SERVICE_ACCOUNT,
                "namespace": NAMESPACE,
                "labels": labels,
                "annotations": pod_specs.irsa_annotations(args.feature_reader_role_arn),
            },
            opts=self.in_ns,
        )
        secret_class = k8s.apiextensions.CustomResource(
            f"{name}-feature-store-secret",
            api_version="secrets-store.csi.x-k8s.io/v1",
            kind="SecretProviderClass",
            metadata={"name": "feature-store", "namespace": NAMESPACE},
            spec={
                "provider": "aws",
                "parameters": {
                    "region": args.region,
                    "usePodIdentity": "false",
                    "objects": pulumi.Output.from_input(args.redis_token_secret_arn).apply(
                        lambda arn: pod_specs.aws_secret_objects(
                            [{"objectName": arn, "objectType": "secretsmanager", "objectAlias": "redis-token"}]
                        )
                    ),
                },
            },
            opts=self.in_ns,
        )
        environment = pulumi.Output.from_input(args.redis_host).apply(
            lambda host: ServingEnvironment(
                model_name=settings.model_name,
                tracking_uri=args.tracking_uri,
                region=args.region,
                redis_url=f"rediss://{host}:6379/0",
                prediction_log_uri=self.prediction_log_uri,
                residency_file=RESIDENCY_FILE,
                challenger_alias=settings.challenger_alias,
                canary_weight=settings.canary_weight,
                shadow=settings.shadow,
                prediction_log_sample=settings.prediction_log_sample,
                redis_token_file=REDIS_TOKEN_FILE,
                model_cache_dir=MODEL_CACHE_DIR,
            ).as_env()
        )
        container = {
            "name": "serving",
            "image": self._image("serving", settings.serving_image_tag),
            "imagePullPolicy": "IfNotPresent",
            "ports": [{"name": "http", "containerPort": SERVING_PORT, "protocol": "TCP"}],
            "env": environment.apply(pod_specs.env_list),
            "resources": pod_specs.resources(settings.serving_cpu, settings.serving_memory, gpus=settings.serving_gpus),
            "startupProbe": pod_specs.http_probe("/health/live", "http", period=5, failures=60),
            "livenessProbe": pod_specs.http_probe("/health/live", "http", period=10),
            "readinessProbe": pod_specs.http_probe("/health/ready", "http", period=5),
            "securityContext": pod_specs.container_security_context(),
            "volumeMounts": [
                {"name": "residency", "mountPath": RESIDENCY_DIR, "readOnly": True},
                {"name": "feature-store", "mountPath": SECRETS_DIR, "readOnly": True},
                {"name": "model-cache", "mountPath": MODEL_CACHE_DIR},
                {"name": "tmp", "mountPath": pod_specs.TMP_DIR},
            ],
        }
        self.serving = k8s.apps.v1.Deployment(
            f"{name}-serving",
            metadata={"name": "serving", "namespace": NAMESPACE, "labels": labels},
            spec={
                "replicas": settings.serving_replicas,
                "selector": {"matchLabels": labels},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": SERVING_SERVICE_ACCOUNT,
                        "automountServiceAccountToken": False,  # IRSA mounts its own token
                        "securityContext": pod_specs.pod_security_context(),
                        "tolerations": [pod_specs.gpu_toleration()],
                        "affinity": pod_specs.pool_affinity(INFERENCE_POOL),
                        "topologySpreadConstraints": pod_specs.spread_across_zones(labels),
                        "terminationGracePeriodSeconds": 60,
                        "containers": [container],
                        "volumes": [
                            {"name": "residency", "configMap": {"name": "residency"}},
                            pod_specs.csi_secret_volume("feature-store", "feature-store"),
                            {"name": "model-cache", "emptyDir": {"sizeLimit": "20Gi"}},
                            {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
                        ],
                    },
                },
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=args.cluster.kubernetes_provider,
                depends_on=[self.namespace, *self.csi, *args.after, secret_class],
            ),
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-serving-pdb",
            metadata={"name": "serving", "namespace": NAMESPACE, "labels": labels},
            spec={"maxUnavailable": 1, "selector": {"matchLabels": labels}},
            opts=self.in_ns,
        )
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-serving-hpa",
            metadata={"name": "serving", "namespace": NAMESPACE, "labels": labels},
            spec={
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "serving"},
                "minReplicas": settings.serving_replicas,
                "maxReplicas": settings.serving_max_replicas,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": settings.hpa_cpu_utilisation},
                        },
                    }
                ],
            },
            opts=self.in_ns,
        )
        k8s.core.v1.Service(
            f"{name}-serving-svc",
            metadata={"name": "serving", "namespace": NAMESPACE, "labels": labels},
            spec={
                "type": "ClusterIP",
                "selector": labels,
                "ports": [{"name": "http", "port": SERVING_PORT, "targetPort": "http", "protocol": "TCP"}],
            },
            opts=self.in_ns,
        )
        k8s.apiextensions.CustomResource(
            f"{name}-serving-monitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata={"name": "serving", "namespace": NAMESPACE, "labels": labels},
            spec={
                "selector": {"matchLabels": labels},
                "endpoints": [{"port": "http", "path": "/metrics", "interval": "15s"}],
            },
            opts=self.in_ns,
        )

    def _drift(self) -> None:
        args, name, settings = self._args, self._name, self._args.settings
        cluster = args.cluster
        child = pulumi.ResourceOptions(parent=self)
        self.drift_role = aws.iam.Role(
            f"{name}-drift-irsa",
            name=f"mlplat-{name}-drift",
            description=f"IRSA: {NAMESPACE}/{DRIFT_SERVICE_ACCOUNT}: this region's prediction log and reports",
            assume_role_policy=pulumi.Output.all(cluster.oidc_provider_arn, cluster.oidc_issuer_url).apply(
                lambda v: irsa_trust(v[0], v[1], NAMESPACE, DRIFT_SERVICE_ACCOUNT)
            ),
            max_session_duration=3600,
            tags={**args.tags, "mlplat-role": "workload", "Name": f"{name}-drift-irsa"},
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-drift-irsa",
            role=self.drift_role.id,
            policy=pulumi.Output.all(args.partition, args.account_id).apply(
                lambda v: drift_policy(v[0], args.region, v[1], self.model_prefix)
            ),
            opts=child,
        )
        labels = {"app.kubernetes.io/name": "drift", "app.kubernetes.io/part-of": "mlplat"}
        k8s.core.v1.ServiceAccount(
            f"{name}-drift-sa",
            metadata={
                "name": DRIFT_SERVICE_ACCOUNT,
                "namespace": NAMESPACE,
                "labels": labels,
                "annotations": pod_specs.irsa_annotations(self.drift_role.arn),
            },
            opts=self.in_ns,
        )
        env = DriftEnvironment(
            model_name=settings.model_name,
            tracking_uri=args.tracking_uri,
            prediction_log_uri=self.prediction_log_uri,
            drift_categorical=",".join(settings.drift_categorical) or None,
            drift_action=settings.drift_action,
            drift_window_minutes=settings.drift_window_minutes,
            drift_metrics="pushgateway",
            drift_pushgateway_url=args.pushgateway_url,
        ).as_env()
        env |= {"AWS_REGION": args.region, "AWS_DEFAULT_REGION": args.region}
        container = {
            "name": "drift",
            "image": self._image("drift", settings.drift_image_tag),
            "imagePullPolicy": "IfNotPresent",
            "env": pod_specs.env_list(env),
            "resources": pod_specs.resources("1", "4Gi", cpu_limit="2"),
            # A run is short-lived; the probe checks the code imports (the Dockerfile's HEALTHCHECK does the same).
            "livenessProbe": pod_specs.exec_probe(["python", "-c", "import runtime.drift.cli, runtime.drift.job"]),
            "readinessProbe": pod_specs.exec_probe(["python", "-c", "import runtime.drift.cli"]),
            "securityContext": pod_specs.container_security_context(),
            "volumeMounts": [
                {"name": "residency", "mountPath": RESIDENCY_DIR, "readOnly": True},
                {"name": "tmp", "mountPath": pod_specs.TMP_DIR},
            ],
        }
        self.drift = k8s.batch.v1.CronJob(
            f"{name}-drift",
            metadata={"name": "drift", "namespace": NAMESPACE, "labels": labels},
            spec={
                "schedule": settings.drift_schedule,
                "timeZone": "Etc/UTC",
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": 600,
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "backoffLimit": 2,
                        "activeDeadlineSeconds": 3000,
                        "ttlSecondsAfterFinished": 86400,
                        "template": {
                            "metadata": {"labels": labels},
                            "spec": {
                                "serviceAccountName": DRIFT_SERVICE_ACCOUNT,
                                "restartPolicy": "Never",
                                "automountServiceAccountToken": False,  # IRSA mounts its own token
                                "securityContext": pod_specs.pod_security_context(),
                                "nodeSelector": dict(args.system_node_selector),
                                "containers": [container],
                                "volumes": [
                                    {"name": "residency", "configMap": {"name": "residency"}},
                                    {"name": "tmp", "emptyDir": {"sizeLimit": "4Gi"}},
                                ],
                            },
                        },
                    },
                },
            },
            opts=self.in_ns,
        )
