"""The regional training plane (issue 14): the KubeRay operator, the RayJob template the dispatcher submits, the
training bucket (checkpoints, scratch, dispatch claims), the `trainer` and `train-dispatcher` IRSA roles, and the
retrain queue fed by the drift job's `ModelDriftDetected` events and by per-model schedules.

Ray runs training as a RayJob: the head on the on-demand system pool, the workers on the training GPU pool
(GPU taint tolerated, pool affinity, spot-tolerant: a lost worker resumes from the last checkpoint in the
training bucket). Nothing here is replicated: checkpoints are derived from features and stay in the region.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import pod_specs
from components.eks_cluster import ClusterRef
from components.feature_store import offline_bucket_denies
from components.iam_documents import document, irsa_trust
from components.kms_key import KmsKey, KmsKeyArgs, ServiceGrant
from components.secure_bucket import Lifecycle, SecureBucket, SecureBucketArgs
from components.toolkit.helm import CHARTS

NAMESPACE = "mlplat"
OPERATOR_NAMESPACE = "kuberay-system"
TRAINER_SERVICE_ACCOUNT = "trainer"
DISPATCHER_SERVICE_ACCOUNT = "train-dispatcher"
CONFIG_DIR = "/etc/mlplat/training"
KUBE_API_TOKEN_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
RAY_VERSION = "2.60.0"
TRAINING_REPOSITORY = "training"
KUBERAY_CHART = CHARTS["kuberay-operator"]  # pinned in the toolkit's table with the other add-ons
DRIFT_EVENT_PATTERN = {"source": ["mlplat.drift"], "detail-type": ["ModelDriftDetected"]}
SCHEDULE_DETAIL_TYPE = "ScheduledRetrain"
CLAIMS_PREFIX = "dispatch"
CHECKPOINTS_PREFIX = "checkpoints"


def _role_arn(role: str, partition_and_account: list[str]) -> str:
    partition, account = partition_and_account
    return f"arn:{partition}:iam::{account}:role/{role}"


@dataclass(frozen=True, kw_only=True)
class TrainingArgs:
    cluster: ClusterRef
    region: str
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    offline_bucket_arn: pulumi.Input[str]  # the region's offline feature store
    feature_key_arn: pulumi.Input[str]  # its key: checkpoints and holdouts are derived from features
    s3_endpoint_id: pulumi.Input[str]  # the region's S3 gateway endpoint: the only way to the bucket's data
    access_log_bucket: pulumi.Input[str]
    tenants: Sequence[str]  # tenants whose data this region's store holds (the trainer reads only theirs)
    model_bucket: str  # the global model-artifact bucket MLflow writes to
    model_bucket_region: str
    tracking_uri: str
    image_tag: str = "0.1.0"
    training_pool: str = "training"
    worker_replicas: int = 2
    gpus_per_worker: int = 1
    schedules: Mapping[str, str] = field(default_factory=dict)  # model -> EventBridge schedule expression
    checkpoint_expire_days: int = 14
    break_glass_role: str = "mlplat-break-glass"
    deploy_role_names: Sequence[str] = ()  # may list the bucket from outside the VPC (Pulumi refresh)
    system_node_selector: Mapping[str, str] = field(default_factory=lambda: {"mlplat/pool": "system"})
    after: Sequence[pulumi.Resource] = ()  # the mlplat namespace
    tags: Mapping[str, str] = field(default_factory=dict)


def training_bucket_name(prefix: str) -> str:
    return f"mlplat-{prefix}-training"


def trainer_policy(
    *,
    partition: str,
    region: str,
    offline_bucket_arn: str,
    feature_key_arn: str,
    training_bucket_arn: str,
    tenants: Sequence[str],
) -> str:
    """Read the offline store under its tenants' prefixes only, read/write the training bucket; nothing else. Model
    artifacts reach the global model bucket through the MLflow server (`--serve-artifacts`), whose role writes them,
    so no trainer in any jurisdiction holds a grant on a bucket or key of another region."""
    tenant_objects = [f"{offline_bucket_arn}/tables/*/tenant={tenant}/*" for tenant in sorted(tenants)]
    tenant_prefixes = [f"tables/*/tenant={tenant}/*" for tenant in sorted(tenants)]
    return document(
        [
            {
                "Sid": "ListOwnTenantsOffline",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": offline_bucket_arn,
                "Condition": {"StringLike": {"s3:prefix": tenant_prefixes}},
            },
            {
                "Sid": "ReadOwnTenantsOffline",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": tenant_objects or [f"{offline_bucket_arn}/none/*"],
            },
            {
                "Sid": "BucketRegion",
                "Effect": "Allow",
                "Action": "s3:GetBucketLocation",
                "Resource": [offline_bucket_arn, training_bucket_arn],
            },
            {"Sid": "ListTraining", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": training_bucket_arn},
            {
                "Sid": "ReadWriteTraining",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                "Resource": f"{training_bucket_arn}/{CHECKPOINTS_PREFIX}/*",
            },
            {
                "Sid": "RegionalKeyThroughS3",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": feature_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
            },
        ]
    )


def dispatcher_policy(
    *, queue_arn: str, queue_key_arn: str, training_bucket_arn: str, feature_key_arn: str, region: str
) -> str:
    """Consume the retrain queue and keep claims under the training bucket's `dispatch/` prefix; nothing else."""
    return document(
        [
            {
                "Sid": "ConsumeRetrainQueue",
                "Effect": "Allow",
                "Action": [
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:ChangeMessageVisibility",
                    "sqs:GetQueueAttributes",
                ],
                "Resource": queue_arn,
            },
            {"Sid": "QueueKey", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": queue_key_arn},
            {
                "Sid": "Claims",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": f"{training_bucket_arn}/{CLAIMS_PREFIX}/*",
            },
            {
                "Sid": "ClaimsKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": feature_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
            },
        ]
    )


def _ray_container(name: str, image: str, env: Mapping[str, str], resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "env": pod_specs.env_list(env),
        "resources": resources,
        "securityContext": pod_specs.container_security_context(),
        "volumeMounts": [
            {"name": "tmp", "mountPath": pod_specs.TMP_DIR},
            {"name": "training-config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "residency", "mountPath": "/etc/mlplat/residency", "readOnly": True},
        ],
    }


def _ray_volumes() -> list[dict[str, Any]]:
    return [
        {"name": "tmp", "emptyDir": {"sizeLimit": "50Gi"}},
        {"name": "training-config", "configMap": {"name": "training"}},
        {"name": "residency", "configMap": {"name": "residency"}},
    ]


def rayjob_template(
    *,
    image: str,
    region: str,
    tracking_uri: str,
    storage: str,
    training_pool: str,
    worker_replicas: int,
    gpus_per_worker: int,
    system_node_selector: Mapping[str, str],
) -> dict[str, Any]:
    """The RayJob the dispatcher fills in (name, entrypoint): head on the on-demand system pool, workers on the
    training GPU pool, spot-tolerant (Ray Train resumes from the checkpoint in `storage`)."""
    env = {
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MLPLAT_TRAINING_STORAGE": storage,
        "MLPLAT_RESIDENCY_FILE": "/etc/mlplat/residency/residency.yaml",
        "HOME": pod_specs.TMP_DIR,
    }
    pod_common = {
        "serviceAccountName": TRAINER_SERVICE_ACCOUNT,
        "automountServiceAccountToken": False,  # IRSA mounts its own token
        "securityContext": pod_specs.pod_security_context(),
        "volumes": _ray_volumes(),
    }
    head = {
        "rayStartParams": {"num-cpus": "0"},  # the head schedules, the workers train
        "template": {
            "metadata": {"labels": {"app.kubernetes.io/name": "ray-head", "app.kubernetes.io/part-of": "mlplat"}},
            "spec": {
                **pod_common,
                "nodeSelector": dict(system_node_selector),
                "containers": [_ray_container("ray-head", image, env, pod_specs.resources("1", "4Gi", cpu_limit="2"))],
            },
        },
    }
    worker = {
        "groupName": "gpu",
        "replicas": worker_replicas,
        "minReplicas": worker_replicas,
        "maxReplicas": worker_replicas,
        "rayStartParams": {},
        "template": {
            "metadata": {"labels": {"app.kubernetes.io/name": "ray-worker", "app.kubernetes.io/part-of": "mlplat"}},
            "spec": {
                **pod_common,
                "tolerations": [pod_specs.gpu_toleration()],
                "affinity": pod_specs.pool_affinity(training_pool),
                # a spot reclaim gives two minutes; the checkpoint already in S3 is what survives it
                "terminationGracePeriodSeconds": 90,
                "containers": [
                    _ray_container(
                        "ray-worker", image, env, pod_specs.resources("8", "32Gi", gpus=gpus_per_worker, cpu_limit="12")
                    )
                ],
            },
        },
    }
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"namespace": NAMESPACE, "labels": {"app.kubernetes.io/part-of": "mlplat"}},
        "spec": {
            "shutdownAfterJobFinishes": True,
            "ttlSecondsAfterFinished": 3600,
            "activeDeadlineSeconds": 6 * 3600,  # the seeds' longest training is 4 h
            "backoffLimit": 2,  # a lost head (driver) is retried; Ray Train resumes from the checkpoint
            "submissionMode": "K8sJobMode",
            "rayClusterSpec": {"rayVersion": RAY_VERSION, "headGroupSpec": head, "workerGroupSpecs": [worker]},
        },
    }


def kube_api_token_volume() -> dict[str, Any]:
    """The service-account token (1 h, rotated by the kubelet) and the cluster CA, where Kubernetes clients look."""
    return {
        "name": "kube-api-token",
        "projected": {
            "sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            ]
        },
    }


def schedule_input(model: str) -> str:
    """The schedule rule's message: the EventBridge envelope the dispatcher reads, with the tick's time."""
    body = {"id": "<id>", "source": "mlplat.training.schedule", "detail-type": SCHEDULE_DETAIL_TYPE}
    return json.dumps({**body, "time": "<time>", "detail": {"model_name": model}})


class Training(pulumi.ComponentResource):
    def __init__(self, name: str, args: TrainingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplat:index:Training", name, None, opts)
        self._name, self._args = name, args
        child = pulumi.ResourceOptions(parent=self)
        cluster = args.cluster
        self.on_cluster = pulumi.ResourceOptions(parent=self, provider=cluster.kubernetes_provider)
        self.in_ns = pulumi.ResourceOptions(
            parent=self, provider=cluster.kubernetes_provider, depends_on=list(args.after)
        )
        self._bucket(child)
        self._queue(child)
        self.trainer_role = self._irsa(
            TRAINER_SERVICE_ACCOUNT,
            "Ray training: own tenants' offline features, the training bucket, the model prefix",
            pulumi.Output.all(args.partition, args.offline_bucket_arn, args.feature_key_arn, self.bucket.arn).apply(
                lambda v: trainer_policy(
                    partition=v[0],
                    region=args.region,
                    offline_bucket_arn=v[1],
                    feature_key_arn=v[2],
                    training_bucket_arn=v[3],
                    tenants=args.tenants,
                )
            ),
        )
        self.dispatcher_role = self._irsa(
            DISPATCHER_SERVICE_ACCOUNT,
            "mlplat-train dispatch: the retrain queue and its claims",
            pulumi.Output.all(self.queue.arn, self.queue_key.arn, self.bucket.arn, args.feature_key_arn).apply(
                lambda v: dispatcher_policy(
                    queue_arn=v[0],
                    queue_key_arn=v[1],
                    training_bucket_arn=v[2],
                    feature_key_arn=v[3],
                    region=args.region,
                )
            ),
        )
        self.operator = k8s.helm.v3.Release(
            f"{name}-kuberay-operator",
            name="kuberay-operator",
            chart=KUBERAY_CHART.chart,
            version=KUBERAY_CHART.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=KUBERAY_CHART.repository),
            namespace=OPERATOR_NAMESPACE,
            create_namespace=True,
            values={
                "nodeSelector": dict(args.system_node_selector),
                "watchNamespace": [NAMESPACE],
                "singleNamespaceInstall": True,
            },
            opts=self.on_cluster,
        )
        self._kubernetes()
        self.register_outputs(
            {
                "training_bucket": self.bucket.name,
                "retrain_queue_url": self.queue.url,
                "trainer_role_arn": self.trainer_role.arn,
                "dispatcher_role_arn": self.dispatcher_role.arn,
            }
        )

    def _bucket(self, child: pulumi.ResourceOptions) -> None:
        args = self._args
        bucket_name = training_bucket_name(self._name)
        break_glass = pulumi.Output.from_input(args.partition).apply(
            lambda partition: f"arn:{partition}:iam::*:role/{args.break_glass_role}"
        )
        deployers = [
            pulumi.Output.all(args.partition, args.account_id).apply(functools.partial(_role_arn, role))
            for role in args.deploy_role_names
        ]
        only_through_endpoint = pulumi.Output.all(args.s3_endpoint_id, break_glass, *deployers).apply(
            lambda v: offline_bucket_denies(bucket_name, v[0], break_glass_arn=v[1], deploy_role_arns=v[2:])
        )
        self.bucket = SecureBucket(
            f"{self._name}-training",
            SecureBucketArgs(
                bucket_name=bucket_name,
                kms_key_arn=args.feature_key_arn,
                lifecycle=Lifecycle(
                    infrequent_access_after=None,
                    glacier_after=None,
                    expire_after=args.checkpoint_expire_days,
                    noncurrent_expire_after=1,
                ),
                access_log_bucket=args.access_log_bucket,
                extra_policy_statements=only_through_endpoint,
                tags={**args.tags, "mlplat/data-class": "features", "mlplat/residency": args.region},
            ),
            opts=child,
        )

    def _queue(self, child: pulumi.ResourceOptions) -> None:
        args, name = self._args, self._name
        self.queue_key = KmsKey(
            f"{name}-retrain-key",
            KmsKeyArgs(
                description=f"mlplat retrain queue in {args.region}",
                account_id=args.account_id,
                partition=args.partition,
                service_grants=[
                    ServiceGrant(principal="events.amazonaws.com", actions=("kms:GenerateDataKey", "kms:Decrypt"))
                ],
                tags=dict(args.tags),
            ),
            opts=child,
        )
        self.dead_letters = aws.sqs.Queue(
            f"{name}-retrain-dlq",
            name=f"mlplat-{name}-retrain-dlq",
            kms_master_key_id=self.queue_key.arn,
            message_retention_seconds=14 * 86400,
            tags=dict(args.tags),
            opts=child,
        )
        self.queue = aws.sqs.Queue(
            f"{name}-retrain",
            name=f"mlplat-{name}-retrain",
            kms_master_key_id=self.queue_key.arn,
            visibility_timeout_seconds=300,
            message_retention_seconds=4 * 86400,
            receive_wait_time_seconds=20,
            redrive_policy=self.dead_letters.arn.apply(
                lambda arn: json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 5})
            ),
            tags=dict(args.tags),
            opts=child,
        )
        rules = [
            aws.cloudwatch.EventRule(
                f"{name}-retrain-on-drift",
                name=f"mlplat-{name}-retrain-on-drift",
                description="The drift job's retrain events -> the retrain queue",
                event_pattern=json.dumps(DRIFT_EVENT_PATTERN),
                tags=dict(args.tags),
                opts=child,
            )
        ]
        aws.cloudwatch.EventTarget(
            f"{name}-retrain-on-drift", rule=rules[0].name, arn=self.queue.arn, target_id="retrain-queue", opts=child
        )
        for model, expression in sorted(args.schedules.items()):
            rule = aws.cloudwatch.EventRule(
                f"{name}-retrain-{model}-schedule",
                name=f"mlplat-{name}-retrain-{model}",
                description=f"Scheduled retrain of {model}",
                schedule_expression=expression,
                tags=dict(args.tags),
                opts=child,
            )
            aws.cloudwatch.EventTarget(
                f"{name}-retrain-{model}-schedule",
                rule=rule.name,
                arn=self.queue.arn,
                target_id="retrain-queue",
                input_transformer=aws.cloudwatch.EventTargetInputTransformerArgs(
                    input_paths={"id": "$.id", "time": "$.time"}, input_template=schedule_input(model)
                ),
                opts=child,
            )
            rules.append(rule)
        aws.sqs.QueuePolicy(
            f"{name}-retrain-policy",
            queue_url=self.queue.url,
            policy=pulumi.Output.all(self.queue.arn, *[rule.arn for rule in rules]).apply(
                lambda v: document(
                    [
                        {
                            "Sid": "EventBridgeRulesOnly",
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": v[0],
                            "Condition": {"ArnEquals": {"aws:SourceArn": list(v[1:])}},
                        },
                        {
                            "Sid": "DenyInsecureTransport",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "sqs:*",
                            "Resource": v[0],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        },
                    ]
                )
            ),
            opts=child,
        )

    def _irsa(self, service_account: str, purpose: str, policy: pulumi.Output[str]) -> aws.iam.Role:
        args, name = self._args, self._name
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-{service_account}-irsa",
            name=f"mlplat-{name}-{service_account}",
            description=f"IRSA: {NAMESPACE}/{service_account}: {purpose}",
            assume_role_policy=pulumi.Output.all(args.cluster.oidc_provider_arn, args.cluster.oidc_issuer_url).apply(
                lambda v: irsa_trust(v[0], v[1], NAMESPACE, service_account)
            ),
            max_session_duration=3600,
            tags={**args.tags, "mlplat-role": "workload", "Name": f"{name}-{service_account}-irsa"},
            opts=child,
        )
        aws.iam.RolePolicy(f"{name}-{service_account}-irsa", role=role.id, policy=policy, opts=child)
        return role

    def _image(self) -> pulumi.Output[str]:
        """The training image from this region's ECR replica, pinned to the digest its release tag names now:
        the pods pull exactly what was resolved at deploy time, and a missing tag fails the deploy."""
        args = self._args
        found = aws.ecr.get_image_output(
            repository_name=f"mlplat/{TRAINING_REPOSITORY}",
            image_tag=args.image_tag,
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        return pulumi.Output.all(args.account_id, found.image_digest).apply(
            lambda v: f"{pod_specs.ecr_image(v[0], args.region, TRAINING_REPOSITORY, args.image_tag)}@{v[1]}"
        )

    def _kubernetes(self) -> None:
        args, name = self._args, self._name
        labels = {"app.kubernetes.io/name": "train-dispatcher", "app.kubernetes.io/part-of": "mlplat"}
        for service_account, role in (
            (TRAINER_SERVICE_ACCOUNT, self.trainer_role),
            (DISPATCHER_SERVICE_ACCOUNT, self.dispatcher_role),
        ):
            k8s.core.v1.ServiceAccount(
                f"{name}-{service_account}-sa",
                metadata={
                    "name": service_account,
                    "namespace": NAMESPACE,
                    "annotations": pod_specs.irsa_annotations(role.arn),
                },
                opts=self.in_ns,
            )
        image = self._image()
        storage = self.bucket.name.apply(lambda bucket: f"s3://{bucket}/{CHECKPOINTS_PREFIX}")
        template = pulumi.Output.all(image, storage).apply(
            lambda v: json.dumps(
                rayjob_template(
                    image=v[0], region=args.region, tracking_uri=args.tracking_uri, storage=v[1],
                    training_pool=args.training_pool, worker_replicas=args.worker_replicas,
                    gpus_per_worker=args.gpus_per_worker, system_node_selector=args.system_node_selector,
                ),
                indent=2, sort_keys=True,
            )
        )  # fmt: skip
        k8s.core.v1.ConfigMap(
            f"{name}-training-config",
            metadata={"name": "training", "namespace": NAMESPACE},
            data={"rayjob.json": template},
            opts=self.in_ns,
        )
        # The dispatcher may create and read RayJobs in this namespace, nothing else in the cluster.
        k8s.rbac.v1.Role(
            f"{name}-dispatcher-role",
            metadata={"name": DISPATCHER_SERVICE_ACCOUNT, "namespace": NAMESPACE},
            rules=[{"apiGroups": ["ray.io"], "resources": ["rayjobs"], "verbs": ["create", "get"]}],
            opts=self.in_ns,
        )
        k8s.rbac.v1.RoleBinding(
            f"{name}-dispatcher-binding",
            metadata={"name": DISPATCHER_SERVICE_ACCOUNT, "namespace": NAMESPACE},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": DISPATCHER_SERVICE_ACCOUNT},
            subjects=[{"kind": "ServiceAccount", "name": DISPATCHER_SERVICE_ACCOUNT, "namespace": NAMESPACE}],
            opts=self.in_ns,
        )
        env = {
            "AWS_REGION": args.region,
            "AWS_DEFAULT_REGION": args.region,
            "MLPLAT_NAMESPACE": NAMESPACE,
            "HOME": pod_specs.TMP_DIR,
        }
        ledger = self.bucket.name.apply(lambda bucket: f"s3://{bucket}/{CLAIMS_PREFIX}")
        container = {
            "name": "dispatcher",
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "args": pulumi.Output.all(self.queue.url, ledger).apply(
                lambda v: ["dispatch", "--queue", v[0], "--configs", CONFIG_DIR, "--submit", "rayjob", "--ledger", v[1]]
            ),
            "env": pod_specs.env_list(env),
            "resources": pod_specs.resources("100m", "256Mi", cpu_limit="500m"),
            "livenessProbe": pod_specs.exec_probe(["python", "-c", "import runtime.training.dispatch"]),
            "readinessProbe": pod_specs.exec_probe(["python", "-c", "import runtime.training.dispatch"]),
            "securityContext": pod_specs.container_security_context(),
            "volumeMounts": [
                {"name": "tmp", "mountPath": pod_specs.TMP_DIR},
                {"name": "training-config", "mountPath": CONFIG_DIR, "readOnly": True},
                {"name": "kube-api-token", "mountPath": KUBE_API_TOKEN_DIR, "readOnly": True},
            ],
        }
        self.dispatcher = k8s.apps.v1.Deployment(
            f"{name}-train-dispatcher",
            metadata={
                "name": DISPATCHER_SERVICE_ACCOUNT,
                "namespace": NAMESPACE,
                "labels": labels,
                # the training image is pushed after the first deploy: Pulumi does not wait for this rollout
                "annotations": {pod_specs.SKIP_AWAIT: "true"},
            },
            spec={
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": DISPATCHER_SERVICE_ACCOUNT,
                        # It creates RayJobs through the Kubernetes API: an explicit, short-lived projected token
                        # instead of the automounted one.
                        "automountServiceAccountToken": False,
                        "securityContext": pod_specs.pod_security_context(),
                        "nodeSelector": dict(args.system_node_selector),
                        "containers": [container],
                        "volumes": [
                            {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
                            {"name": "training-config", "configMap": {"name": "training"}},
                            kube_api_token_volume(),
                        ],
                    },
                },
            },
            opts=self.in_ns,
        )
