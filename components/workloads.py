"""The runtime workloads of a regional cluster, in namespace `mlplat`: the serving Deployment on the inference GPU
pool (its own IRSA role, PDB, HPA, ServiceMonitor), the drift CronJob, the residency ConfigMap both read, and the
regional prediction-log bucket under its own KMS key. The Secrets Store CSI driver that mounts the feature store's
token is a cluster add-on (components/cluster_addons.py); `after` carries it.

Both containers get exactly the `MLPLAT_*` environment `mlplat dev` sets, built by `ServingEnvironment` and
`DriftEnvironment` (components/runtime_settings.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components import pod_specs
from components.config import WorkloadsConfig
from components.eks_cluster import ClusterRef
from components.feature_store import FEATURES_NAMESPACE
from components.iam_documents import document, merge_documents
from components.kms_key import KmsKey, KmsKeyArgs
from components.naming import prediction_bucket_name
from components.runtime_settings import DriftEnvironment, ServingEnvironment
from components.secure_bucket import Lifecycle, SecureBucket, SecureBucketArgs
from components.toolkit import (
    Container,
    Placement,
    RegionEnv,
    WorkloadSpec,
    app_labels,
    deployment,
    irsa_role,
    pod_spec,
    secret_provider_class,
    service_account,
)

NAMESPACE = FEATURES_NAMESPACE  # "mlplat": the feature store's IRSA roles trust service accounts here
SERVING_SERVICE_ACCOUNT = "serving"
DRIFT_SERVICE_ACCOUNT = "drift"
SERVING_PORT = 8080
RESIDENCY_DIR = "/etc/mlplat/residency"
RESIDENCY_FILE = f"{RESIDENCY_DIR}/residency.yaml"
SECRETS_DIR = "/mnt/secrets/feature-store"
REDIS_TOKEN_FILE = f"{SECRETS_DIR}/redis-token"
MODEL_CACHE_DIR = "/var/cache/mlplat/models"
INFERENCE_POOL = "inference"
PREDICTIONS_PREFIX = "predictions"


@dataclass(frozen=True, kw_only=True)
class WorkloadsArgs:
    cluster: ClusterRef
    env: RegionEnv
    settings: WorkloadsConfig
    tracking_uri: str
    residency: Mapping[str, object]  # {"jurisdictions": ..., "tenants": ...} in the shape of stacks/platform.yaml
    redis_host: pulumi.Input[str]
    redis_token_secret_arn: pulumi.Input[str]
    feature_read_policy: pulumi.Input[str]  # FeatureStore.read_policy: what serving may read of the store
    model_bucket: pulumi.Input[str]  # the global stack's model bucket in this region (its StackReference output)
    access_log_bucket: pulumi.Input[str]
    pushgateway_url: str
    # The regional Ray cluster's client address (ray://HEAD:10001): the drift job counts large windows there.
    drift_ray_address: str | None = None
    after: Sequence[pulumi.Resource] = ()  # the CSI driver releases and kube-prometheus-stack (their CRDs)
    system_node_selector: Mapping[str, str] = field(default_factory=lambda: {"mlplat/pool": "system"})


def _kms_through_s3(key: str, region: str, bucket_arn: str, actions: Sequence[str]) -> dict:
    return {
        "Effect": "Allow",
        "Action": list(actions),
        "Resource": key,
        "Condition": {
            "StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"},
            "ArnLike": {"kms:EncryptionContext:aws:s3:arn": bucket_arn},
        },
    }


def serving_policy(
    partition: str, region: str, account_id: str, model_bucket: str, prediction_key_arn: str, model_prefix: str
) -> str:
    """Serving's own access beside the feature store's read policy: read this region's model bucket, append to
    this region's prediction log under its key."""
    models = f"arn:{partition}:s3:::{model_bucket}"
    predictions = f"arn:{partition}:s3:::{prediction_bucket_name(region)}"
    any_key_here = f"arn:{partition}:kms:{region}:{account_id}:key/*"  # the replica's key lives in the global stack
    return document(
        [
            {"Sid": "ListModels", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": models},
            {
                "Sid": "ReadModels",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": f"{models}/*",
            },
            {
                "Sid": "WritePredictionLog",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": f"{predictions}/{model_prefix}/*",
            },
            {"Sid": "ModelKey", **_kms_through_s3(any_key_here, region, models, ["kms:Decrypt"])},
            {
                "Sid": "PredictionKey",
                **_kms_through_s3(prediction_key_arn, region, predictions, ["kms:GenerateDataKey", "kms:Decrypt"]),
            },
        ]
    )


def drift_policy(partition: str, region: str, account_id: str, prediction_key_arn: str, model_prefix: str) -> str:
    """The drift job: read this region's prediction log of its model, write its reports beside it."""
    bucket_arn = f"arn:{partition}:s3:::{prediction_bucket_name(region)}"
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
                **_kms_through_s3(prediction_key_arn, region, bucket_arn, ["kms:Decrypt", "kms:GenerateDataKey"]),
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
        env, settings, cluster = args.env, args.settings, args.cluster
        child = pulumi.ResourceOptions(parent=self)
        self.on_cluster = pulumi.ResourceOptions(parent=self, provider=cluster.kubernetes_provider)
        data_tags = {"mlplat/data-class": "features", "mlplat/residency": env.region}
        # Predictions hold features: a key of their own, in this region, beside the feature store's.
        self.prediction_key = KmsKey(
            f"{name}-predictions-key",
            KmsKeyArgs.for_env(
                env, description=f"mlplat prediction log in {env.region}; never leaves the region", tags=data_tags
            ),
            opts=child,
        )
        self.prediction_bucket = SecureBucket(
            f"{name}-predictions",
            SecureBucketArgs(
                bucket_name=prediction_bucket_name(env.region),
                kms_key_arn=self.prediction_key.arn,
                lifecycle=Lifecycle(
                    infrequent_access_after=30, glacier_after=None, expire_after=settings.prediction_log_expire_days
                ),
                access_log_bucket=args.access_log_bucket,
                tags=env.tagged(**data_tags),
            ),
            opts=child,
        )
        self.model_prefix = f"{PREDICTIONS_PREFIX}/{settings.model_name}"
        self.prediction_log_uri = f"s3://{prediction_bucket_name(env.region)}/{self.model_prefix}"
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-ns",
            metadata={"name": NAMESPACE, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
            opts=self.on_cluster,
        )
        self.in_ns = pulumi.ResourceOptions(
            parent=self, provider=cluster.kubernetes_provider, depends_on=[self.namespace, *args.after]
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
                "serving_role_arn": self.serving_role.arn,
                "drift_role_arn": self.drift_role.arn,
            }
        )

    def _image(self, repository: str, tag: str) -> pulumi.Output[str]:
        region = self._args.env.region
        return pulumi.Output.from_input(self._args.env.account_id).apply(
            lambda account: pod_specs.ecr_image(account, region, repository, tag)
        )

    def _serving(self) -> None:
        args, name, settings, env = self._args, self._name, self._args.settings, self._args.env
        own = pulumi.Output.all(env.partition, env.account_id, args.model_bucket, self.prediction_key.arn).apply(
            lambda v: serving_policy(v[0], env.region, v[1], v[2], v[3], self.model_prefix)
        )
        self.serving_role = irsa_role(
            f"{name}-serving-irsa",
            cluster=args.cluster,
            namespace=NAMESPACE,
            service_account=SERVING_SERVICE_ACCOUNT,
            env=env,
            purpose="this region's features (read), models (read) and prediction log (append)",
            policy=pulumi.Output.all(args.feature_read_policy, own).apply(lambda v: merge_documents(v[0], v[1])),
            role_name=f"mlplat-{name}-serving",
            opts=pulumi.ResourceOptions(parent=self),
        )
        labels = app_labels("serving")
        secret_class = secret_provider_class(
            f"{name}-feature-store-secret",
            name="feature-store",
            namespace=NAMESPACE,
            region=env.region,
            objects=pulumi.Output.from_input(args.redis_token_secret_arn).apply(
                lambda arn: [{"objectName": arn, "objectType": "secretsmanager", "objectAlias": "redis-token"}]
            ),
            opts=self.in_ns,
        )
        environment = pulumi.Output.from_input(args.redis_host).apply(
            lambda host: ServingEnvironment(
                model_name=settings.model_name,
                tracking_uri=args.tracking_uri,
                region=env.region,
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
        container = Container(
            name="serving",
            image=self._image("serving", settings.serving_image_tag),
            ports=[{"name": "http", "containerPort": SERVING_PORT, "protocol": "TCP"}],
            env=environment.apply(pod_specs.env_list),
            resources=pod_specs.resources(settings.serving_cpu, settings.serving_memory, gpus=settings.serving_gpus),
            startup=pod_specs.http_probe("/health/live", "http", period=5, failures=60),
            liveness=pod_specs.http_probe("/health/live", "http", period=10),
            readiness=pod_specs.http_probe("/health/ready", "http", period=5),
            mounts=[
                {"name": "residency", "mountPath": RESIDENCY_DIR, "readOnly": True},
                {"name": "feature-store", "mountPath": SECRETS_DIR, "readOnly": True},
                {"name": "model-cache", "mountPath": MODEL_CACHE_DIR},
            ],
        )
        self.serving = deployment(
            f"{name}-serving",
            WorkloadSpec(
                app="serving",
                namespace=NAMESPACE,
                service_account=SERVING_SERVICE_ACCOUNT,
                role_arn=self.serving_role.arn,
                replicas=settings.serving_replicas,
                containers=[container],
                volumes=[
                    {"name": "residency", "configMap": {"name": "residency"}},
                    pod_specs.csi_secret_volume("feature-store", "feature-store"),
                    {"name": "model-cache", "emptyDir": {"sizeLimit": "20Gi"}},
                ],
                placement=Placement(
                    tolerations=[pod_specs.gpu_toleration()],
                    affinity=pod_specs.pool_affinity(INFERENCE_POOL),
                    spread_across_zones=True,
                ),
                termination_grace_seconds=60,
            ),
            opts=self.in_ns,
            after=[secret_class],
        ).deployment
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
        args, name, settings, env = self._args, self._name, self._args.settings, self._args.env
        self.drift_role = irsa_role(
            f"{name}-drift-irsa",
            cluster=args.cluster,
            namespace=NAMESPACE,
            service_account=DRIFT_SERVICE_ACCOUNT,
            env=env,
            purpose="this region's prediction log and reports",
            policy=pulumi.Output.all(env.partition, env.account_id, self.prediction_key.arn).apply(
                lambda v: drift_policy(v[0], env.region, v[1], v[2], self.model_prefix)
            ),
            role_name=f"mlplat-{name}-drift",
            opts=pulumi.ResourceOptions(parent=self),
        )
        labels = app_labels("drift")
        service_account(
            f"{name}-drift-sa",
            name=DRIFT_SERVICE_ACCOUNT,
            namespace=NAMESPACE,
            labels=labels,
            role_arn=self.drift_role.arn,
            opts=self.in_ns,
        )
        environment = DriftEnvironment(
            model_name=settings.model_name,
            tracking_uri=args.tracking_uri,
            prediction_log_uri=self.prediction_log_uri,
            drift_categorical=",".join(settings.drift_categorical) or None,
            drift_action=settings.drift_action,
            drift_window_minutes=settings.drift_window_minutes,
            drift_metrics="pushgateway",
            drift_pushgateway_url=args.pushgateway_url,
            drift_ray_address=args.drift_ray_address,
        ).as_env()
        environment |= {"AWS_REGION": env.region, "AWS_DEFAULT_REGION": env.region}
        container = Container(
            name="drift",
            image=self._image("drift", settings.drift_image_tag),
            env=pod_specs.env_list(environment),
            resources=pod_specs.resources("1", "4Gi", cpu_limit="2"),
            # A run is short-lived; the probe checks the code imports (the Dockerfile's HEALTHCHECK does the same).
            liveness=pod_specs.exec_probe(["python", "-c", "import runtime.drift.cli, runtime.drift.job"]),
            readiness=pod_specs.exec_probe(["python", "-c", "import runtime.drift.cli"]),
            mounts=[
                {"name": "residency", "mountPath": RESIDENCY_DIR, "readOnly": True},
            ],
        )
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
                            "spec": pod_spec(
                                service_account=DRIFT_SERVICE_ACCOUNT,
                                containers=[container],
                                volumes=[
                                    {"name": "residency", "configMap": {"name": "residency"}},
                                ],
                                placement=Placement(node_selector=args.system_node_selector),
                                labels=labels,
                                tmp_size="4Gi",
                                extra={"restartPolicy": "Never"},
                            ),
                        },
                    },
                },
            },
            opts=self.in_ns,
        )
