"""The MLflow tracking server and model registry of the whole platform, in the primary region's regional stack:
RDS PostgreSQL (multi-AZ, customer key, IAM auth, forced TLS, deletion protection, backups, final snapshot,
Performance Insights) in the intra subnets, reachable only from the cluster's nodes; the tracking server as a
Deployment on that cluster whose artifacts go to the global model bucket through an IRSA role.

DB credentials: RDS manages the master password in Secrets Manager (`manage_master_user_password`), so no password
is in the graph or the state. The pod mounts `username` and `password` through the Secrets Store CSI driver (AWS
provider, IRSA) and builds the connection URI in memory at start; RDS rotates the secret, a rollout restart picks
up a rotated password (the old one stays valid until the rotation finishes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components import pod_specs
from components.config import MlflowConfig
from components.eks_cluster import ClusterRef
from components.iam_documents import document
from components.kms_key import KmsKey, KmsKeyArgs
from components.toolkit import (
    Container,
    DisruptionBudget,
    Placement,
    RegionEnv,
    WorkloadSpec,
    app_labels,
    deployment,
    irsa_role,
    secret_provider_class,
)

NAMESPACE = "mlflow"
SERVICE_ACCOUNT = "mlflow"
PORT = 5000
DB_PORT = 5432
DB_NAME = "mlflow"
DB_USER = "mlflow"
SECRETS_DIR = "/mnt/secrets/db"
SECRET_PROVIDER_CLASS = "mlflow-db"

# Reads the CSI-mounted credentials, URL-quotes them, and execs the server: the URI exists only in memory.
ENTRYPOINT = (
    "import os, urllib.parse as u\n"
    "read = lambda n: open(os.path.join(os.environ['MLFLOW_DB_SECRETS_DIR'], n)).read().strip()\n"
    "uri = 'postgresql://%s:%s@%s:%s/%s?sslmode=require' % (u.quote(read('username'), safe=''),"
    " u.quote(read('password'), safe=''), os.environ['MLFLOW_DB_HOST'], os.environ['MLFLOW_DB_PORT'],"
    " os.environ['MLFLOW_DB_NAME'])\n"
    "os.execvp('mlflow', ['mlflow', 'server', '--host', '0.0.0.0', '--port', os.environ['MLFLOW_PORT'],"
    " '--backend-store-uri', uri, '--artifacts-destination', os.environ['MLFLOW_ARTIFACTS_DESTINATION'],"
    " '--serve-artifacts', '--workers', '2'])\n"
)


@dataclass(frozen=True, kw_only=True)
class MlflowArgs:
    cluster: ClusterRef
    env: RegionEnv
    vpc_id: pulumi.Input[str]
    intra_subnet_ids: Sequence[pulumi.Input[str]]
    artifact_bucket: pulumi.Input[str]  # the global model bucket of this (primary) region, from the global stack
    settings: MlflowConfig
    after: Sequence[pulumi.Resource] = ()  # the cluster add-ons' Secrets Store CSI driver (SecretProviderClass CRD)
    system_node_selector: Mapping[str, str] = field(default_factory=lambda: {"mlplat/pool": "system"})


def artifact_access_policy(partition: str, region: str, account_id: str, bucket: str, prefix: str, secret: str) -> str:
    """The tracking server's role: objects under its prefix of the artifact bucket, that bucket's key (only
    through S3, only for this bucket's encryption context) and the RDS-managed master secret (CSI driver)."""
    bucket_arn = f"arn:{partition}:s3:::{bucket}"
    return document(
        [
            {
                "Sid": "ListArtifacts",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": bucket_arn,
                "Condition": {"StringLike": {"s3:prefix": [f"{prefix}/*", prefix]}},
            },
            {
                "Sid": "ReadWriteArtifacts",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject"],
                "Resource": f"{bucket_arn}/{prefix}/*",
            },
            {
                "Sid": "ArtifactKeyThroughS3ForThisBucket",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": f"arn:{partition}:kms:{region}:{account_id}:key/*",
                "Condition": {
                    "StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"},
                    "ArnLike": {"kms:EncryptionContext:aws:s3:arn": bucket_arn},
                },
            },
            {
                "Sid": "DatabaseCredentials",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                "Resource": secret,
            },
        ]
    )


class Mlflow(pulumi.ComponentResource):
    def __init__(self, name: str, args: MlflowArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplat:index:Mlflow", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.env.tagged(**{"mlplat/data-class": "registry"})
        self.key = KmsKey(
            f"{name}-db-key",
            KmsKeyArgs.for_env(
                args.env,
                description=f"{name}: MLflow database, its master secret and Performance Insights",
                tags={"mlplat/data-class": "registry"},
            ),
            opts=child,
        )
        self._database(name, args, tags, child)
        self._tracking_server(name, args)
        self.register_outputs(
            {
                "db_endpoint": self.db.address,
                "db_master_secret_arn": self.master_secret_arn,
                "role_arn": self.role.arn,
                "tracking_uri": self.tracking_uri,
            }
        )

    def _database(self, name: str, args: MlflowArgs, tags: Mapping[str, str], child: pulumi.ResourceOptions) -> None:
        settings = args.settings
        subnets = aws.rds.SubnetGroup(
            f"{name}-db",
            name=f"{name}-mlflow",
            subnet_ids=args.intra_subnet_ids,
            tags={**tags, "Name": f"{name}-db"},
            opts=child,
        )
        self.db_security_group = aws.ec2.SecurityGroup(
            f"{name}-db",
            description="MLflow PostgreSQL: only the EKS nodes (where the tracking server runs)",
            vpc_id=args.vpc_id,
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    description="PostgreSQL from the cluster's nodes",
                    protocol="tcp",
                    from_port=DB_PORT,
                    to_port=DB_PORT,
                    security_groups=[args.cluster.node_security_group_id],
                )
            ],
            tags={**tags, "Name": f"{name}-db"},
            opts=child,
        )
        family = f"postgres{settings.engine_version.split('.')[0]}"
        parameters = aws.rds.ParameterGroup(
            f"{name}-db",
            name=f"{name}-mlflow-{family}",
            family=family,
            description=f"{name}: TLS only, connection and slow-statement logging",
            parameters=[
                aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1"),
                aws.rds.ParameterGroupParameterArgs(name="log_connections", value="1"),
                aws.rds.ParameterGroupParameterArgs(name="log_min_duration_statement", value="1000"),
            ],
            tags=tags,
            opts=child,
        )
        self.db = aws.rds.Instance(
            f"{name}-db",
            identifier=f"{name}-mlflow",
            engine="postgres",
            engine_version=settings.engine_version,
            instance_class=settings.instance_class,
            allocated_storage=settings.allocated_storage_gib,
            max_allocated_storage=settings.max_allocated_storage_gib,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=self.key.arn,
            db_name=DB_NAME,
            username=DB_USER,
            manage_master_user_password=True,
            master_user_secret_kms_key_id=self.key.arn,
            iam_database_authentication_enabled=True,
            multi_az=True,
            publicly_accessible=False,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[self.db_security_group.id],
            parameter_group_name=parameters.name,
            port=DB_PORT,
            backup_retention_period=settings.backup_retention_days,
            backup_window="03:00-04:00",
            maintenance_window="sun:04:30-sun:05:30",
            copy_tags_to_snapshot=True,
            delete_automated_backups=False,
            deletion_protection=True,
            skip_final_snapshot=False,
            final_snapshot_identifier=f"{name}-mlflow-final",
            performance_insights_enabled=True,
            performance_insights_kms_key_id=self.key.arn,
            performance_insights_retention_period=7,
            enabled_cloudwatch_logs_exports=["postgresql", "upgrade"],
            auto_minor_version_upgrade=True,
            tags={**tags, "Name": f"{name}-mlflow"},
            opts=child,
        )
        self.master_secret_arn: pulumi.Output[str] = self.db.master_user_secrets.apply(
            lambda secrets: (
                str(secrets[0]["secret_arn"] if isinstance(secrets[0], dict) else secrets[0].secret_arn)
                if secrets
                else ""
            )
        )

    def _tracking_server(self, name: str, args: MlflowArgs) -> None:
        settings, cluster, env = args.settings, args.cluster, args.env
        self.role = irsa_role(
            f"{name}-mlflow-irsa",
            cluster=cluster,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            env=env,
            purpose="MLflow artifacts and DB secret",
            policy=pulumi.Output.all(env.partition, env.account_id, args.artifact_bucket, self.master_secret_arn).apply(
                lambda v: artifact_access_policy(v[0], env.region, v[1], v[2], settings.artifact_prefix, v[3])
            ),
            role_name=f"mlplat-{name}-mlflow",
            opts=pulumi.ResourceOptions(parent=self),
        )
        namespace = k8s.core.v1.Namespace(
            f"{name}-mlflow-ns",
            metadata={"name": NAMESPACE, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
            opts=pulumi.ResourceOptions(parent=self, provider=cluster.kubernetes_provider),
        )
        in_ns = pulumi.ResourceOptions(
            parent=self, provider=cluster.kubernetes_provider, depends_on=[namespace, *args.after]
        )
        labels = app_labels("mlflow")
        credentials = [{"path": key, "objectAlias": key} for key in ("username", "password")]
        secret_class = secret_provider_class(
            f"{name}-mlflow-db-secret",
            name=SECRET_PROVIDER_CLASS,
            namespace=NAMESPACE,
            region=env.region,
            objects=self.master_secret_arn.apply(
                lambda arn: [{"objectName": arn, "objectType": "secretsmanager", "jmesPath": credentials}]
            ),
            labels=labels,
            opts=in_ns,
        )
        image = pulumi.Output.from_input(env.account_id).apply(
            lambda account: pod_specs.ecr_image(account, env.region, "mlflow", settings.image_tag)
        )
        environment = {
            "MLFLOW_DB_HOST": self.db.address,
            "MLFLOW_DB_PORT": str(DB_PORT),
            "MLFLOW_DB_NAME": DB_NAME,
            "MLFLOW_DB_SECRETS_DIR": SECRETS_DIR,
            "MLFLOW_PORT": str(PORT),
            "MLFLOW_ARTIFACTS_DESTINATION": pulumi.Output.concat(
                "s3://", args.artifact_bucket, "/", settings.artifact_prefix
            ),
            "AWS_REGION": env.region,
            "AWS_DEFAULT_REGION": env.region,
            "HOME": pod_specs.TMP_DIR,
        }
        container = Container(
            name="mlflow",
            image=image,
            command=["python", "-c", ENTRYPOINT],
            ports=[{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
            env=pod_specs.env_list(environment),
            resources=pod_specs.resources("500m", "2Gi", cpu_limit="2"),
            liveness=pod_specs.http_probe("/health", "http", period=20, delay=30),
            readiness=pod_specs.http_probe("/health", "http", period=10),
            mounts=[
                {"name": "db-credentials", "mountPath": SECRETS_DIR, "readOnly": True},
            ],
        )
        self.deployment = deployment(
            f"{name}-mlflow",
            WorkloadSpec(
                app="mlflow",
                namespace=NAMESPACE,
                service_account=SERVICE_ACCOUNT,
                role_arn=self.role.arn,
                replicas=settings.replicas,
                containers=[container],
                volumes=[
                    pod_specs.csi_secret_volume("db-credentials", SECRET_PROVIDER_CLASS),
                ],
                placement=Placement(node_selector=args.system_node_selector, spread_across_zones=True),
                disruption_budget=DisruptionBudget(max_unavailable=None, min_available=1),
            ),
            opts=in_ns,
            after=[secret_class],
        ).deployment
        port = [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}]
        k8s.core.v1.Service(
            f"{name}-mlflow-svc",
            metadata={"name": "mlflow", "namespace": NAMESPACE, "labels": labels},
            spec={"type": "ClusterIP", "selector": labels, "ports": port},
            opts=in_ns,
        )
        self.tracking_uri = f"http://mlflow.{NAMESPACE}.svc.cluster.local:{PORT}"
