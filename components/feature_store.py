"""The regional feature store: Redis (ElastiCache) online, S3 + Glue offline, readable only inside its region.

Everything here is tagged `mlplat/data-class: features` and `mlplat/tenants: <the tenants it holds>`, which is
what the residency rules follow through the graph. Feature buckets never get a replication configuration.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_random as random
import yaml

from components.config import FeatureStoreConfig
from components.iam_documents import document
from components.kms_key import KmsKey, KmsKeyArgs
from components.naming import access_log_bucket_name, offline_feature_bucket_name
from components.secure_bucket import Lifecycle, SecureBucket, SecureBucketArgs
from components.toolkit import ClusterIdentity, RegionEnv, irsa_role, logs_grant

REDIS_PORT = 6379
FEATURES_NAMESPACE = "mlplat"
READER_SERVICE_ACCOUNT = "feature-reader"
WRITER_SERVICE_ACCOUNT = "feature-writer"


@dataclass(frozen=True, kw_only=True)
class FeatureStoreArgs:
    env: RegionEnv
    tenants: Sequence[str]
    vpc_id: pulumi.Input[str]
    intra_subnet_ids: Sequence[pulumi.Input[str]]
    s3_endpoint_id: pulumi.Input[str]
    settings: FeatureStoreConfig = field(default_factory=FeatureStoreConfig)
    client_security_group_ids: Sequence[pulumi.Input[str]] = ()  # e.g. the EKS nodes'; the store's own client SG too
    cluster: ClusterIdentity | None = None  # None: no IRSA roles (the read and write policies are still exported)


class FeatureStore(pulumi.ComponentResource):
    def __init__(self, name: str, args: FeatureStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplat:index:FeatureStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        env = args.env
        data_class = {"mlplat/data-class": "features", "mlplat/tenants": " ".join(sorted(args.tenants))}
        data_tags = env.tagged(**data_class)
        slow_log_name = f"/mlplat/{name}/redis-slow-log"

        self.key = KmsKey(
            f"{name}-key",
            KmsKeyArgs.for_env(
                env,
                description=f"mlplat feature data in {env.region}; never leaves the region",
                service_grants=[logs_grant(env, slow_log_name)],
                tags=data_class,
            ),
            opts=child,
        )
        self._offline(name, args, data_tags)
        self._online(name, args, data_tags, slow_log_name)
        self._catalog(name, args, data_tags)
        scope = pulumi.Output.all(
            env.partition, env.account_id, self.offline_bucket.arn, self.key.arn, self.auth_secret.arn,
            self.glue_database.name,
        )  # fmt: skip
        # What a workload of this region may do with the store; serving's own role carries the read policy.
        self.read_policy: pulumi.Output[str] = scope.apply(functools.partial(_access_for, env.region, False))
        self.write_policy: pulumi.Output[str] = scope.apply(functools.partial(_access_for, env.region, True))
        self.reader_role_arn: pulumi.Output[str] | None = None
        self.writer_role_arn: pulumi.Output[str] | None = None
        if args.cluster is not None:
            self._roles(name, args, args.cluster)

        outputs: dict[str, object] = {
            "redis_host": self.redis_host,
            "redis_port": REDIS_PORT,
            "auth_token_secret_arn": self.auth_secret.arn,
            "offline_bucket": self.offline_bucket.name,
            "glue_database": self.glue_database.name,
            "key_arn": self.key.arn,
            "client_security_group_id": self.client_security_group.id,
        }
        if self.reader_role_arn is not None:
            outputs |= {"reader_role_arn": self.reader_role_arn, "writer_role_arn": self.writer_role_arn}
        self.register_outputs(outputs)

    def _offline(self, name: str, args: FeatureStoreArgs, data_tags: Mapping[str, str]) -> None:
        settings = args.settings
        log_bucket_name = access_log_bucket_name(name)
        # S3 server access logs can only be delivered to SSE-S3 buckets (AWS does not support SSE-KMS targets).
        self.log_bucket = SecureBucket(
            f"{name}-access-logs",
            SecureBucketArgs(
                bucket_name=log_bucket_name,
                kms_key_arn=None,
                lifecycle=Lifecycle(
                    infrequent_access_after=None,
                    glacier_after=None,
                    expire_after=settings.access_logs_expire_after_days,
                ),
                extra_policy_statements=pulumi.Output.from_input(args.env.account_id).apply(
                    lambda account: [
                        {
                            "Sid": "S3ServerAccessLogsFromThisAccount",
                            "Effect": "Allow",
                            "Principal": {"Service": "logging.s3.amazonaws.com"},
                            "Action": "s3:PutObject",
                            "Resource": f"arn:aws:s3:::{log_bucket_name}/*",
                            "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                        }
                    ]
                ),
                tags=args.env.tagged(**{"mlplat/data-class": "logs"}),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        bucket_name = offline_feature_bucket_name(name)
        break_glass = args.env.arn("iam", f"role/{settings.break_glass_role}", regional=False)
        only_through_endpoint = pulumi.Output.all(args.s3_endpoint_id, break_glass).apply(
            lambda v: [
                {
                    "Sid": "DenyDataAccessOutsideThisRegionsVpcEndpoint",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": [
                        "s3:GetObject*",
                        "s3:PutObject*",
                        "s3:DeleteObject*",
                        "s3:ListBucket*",
                        "s3:RestoreObject",
                    ],
                    "Resource": [f"arn:aws:s3:::{bucket_name}", f"arn:aws:s3:::{bucket_name}/*"],
                    "Condition": {
                        "StringNotEquals": {"aws:SourceVpce": v[0]},
                        "ArnNotLike": {"aws:PrincipalArn": v[1]},
                    },
                }
            ]
        )
        self.offline_bucket = SecureBucket(
            f"{name}-features-offline",
            SecureBucketArgs(
                bucket_name=bucket_name,
                kms_key_arn=self.key.arn,
                lifecycle=Lifecycle(
                    infrequent_access_after=settings.offline_infrequent_access_after_days,
                    glacier_after=settings.offline_glacier_after_days,
                    expire_after=settings.offline_expire_after_days,
                ),
                access_log_bucket=self.log_bucket.name,
                extra_policy_statements=only_through_endpoint,
                tags=data_tags,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _online(self, name: str, args: FeatureStoreArgs, data_tags: Mapping[str, str], slow_log_name: str) -> None:
        settings = args.settings
        tenants = ", ".join(sorted(args.tenants)) or "no tenants"
        child = pulumi.ResourceOptions(parent=self)
        self.client_security_group = aws.ec2.SecurityGroup(
            f"{name}-features-clients",
            vpc_id=args.vpc_id,
            description="Attach to what may read the online feature store (nodes, pods)",
            egress=[],
            tags={**args.env.tags, "Name": f"{name}-features-clients"},
            opts=child,
        )
        redis_sg = aws.ec2.SecurityGroup(
            f"{name}-features-redis",
            vpc_id=args.vpc_id,
            description="Redis from the feature-store clients only",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    description="Redis TLS from feature-store clients",
                    protocol="tcp",
                    from_port=REDIS_PORT,
                    to_port=REDIS_PORT,
                    security_groups=[self.client_security_group.id, *args.client_security_group_ids],
                )
            ],
            egress=[],
            tags={**args.env.tags, "Name": f"{name}-features-redis"},
            opts=child,
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-features-clients-to-redis",
            security_group_id=self.client_security_group.id,
            referenced_security_group_id=redis_sg.id,
            ip_protocol="tcp",
            from_port=REDIS_PORT,
            to_port=REDIS_PORT,
            description="Clients reach Redis, nothing else through this group",
            opts=child,
        )
        subnet_group = aws.elasticache.SubnetGroup(
            f"{name}-features",
            name=f"{name}-features",
            description="Intra subnets: no route to the internet",
            subnet_ids=list(args.intra_subnet_ids),
            opts=child,
        )
        # The token stays stable in state; bumping `auth_token_generation` makes a new one (ElastiCache ROTATE
        # strategy accepts both tokens until the next change, so clients can roll over without downtime).
        token = random.RandomPassword(
            f"{name}-redis-auth",
            length=64,
            special=False,
            keepers={"generation": str(settings.auth_token_generation)},
            opts=child,
        )
        self.auth_secret = aws.secretsmanager.Secret(
            f"{name}-redis-auth",
            name=f"mlplat/{name}/redis-auth-token",
            description="Auth token of the regional online feature store",
            kms_key_id=self.key.arn,
            recovery_window_in_days=30,
            tags=data_tags,
            opts=child,
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-redis-auth",
            secret_id=self.auth_secret.id,
            secret_string=token.result,  # RandomPassword.result is already a secret output
            opts=child,
        )
        slow_log = aws.cloudwatch.LogGroup(
            f"{name}-redis-slow-log",
            name=slow_log_name,
            retention_in_days=settings.slow_log_retention_days,
            kms_key_id=self.key.arn,
            tags={**args.env.tags, "Name": f"{name}-redis-slow-log"},
            opts=child,
        )
        self.redis = aws.elasticache.ReplicationGroup(
            f"{name}-features",
            replication_group_id=f"{name}-features",
            description=f"mlplat online features ({args.env.region}): {tenants}",
            engine="redis",
            engine_version=settings.engine_version,
            node_type=settings.node_type,
            port=REDIS_PORT,
            num_cache_clusters=settings.cache_clusters,
            automatic_failover_enabled=True,
            multi_az_enabled=True,
            at_rest_encryption_enabled=True,
            kms_key_id=self.key.arn,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            auth_token=token.result,
            auth_token_update_strategy="ROTATE",
            subnet_group_name=subnet_group.name,
            security_group_ids=[redis_sg.id],
            snapshot_retention_limit=settings.snapshot_retention_days,
            snapshot_window="03:00-04:00",
            maintenance_window="sun:05:00-sun:06:00",
            final_snapshot_identifier=f"{name}-features-final",
            auto_minor_version_upgrade=True,
            apply_immediately=False,
            log_delivery_configurations=[
                aws.elasticache.ReplicationGroupLogDeliveryConfigurationArgs(
                    destination=slow_log.name,
                    destination_type="cloudwatch-logs",
                    log_format="json",
                    log_type="slow-log",
                )
            ],
            tags=data_tags,
            opts=child,
        )
        self.redis_host = self.redis.primary_endpoint_address

    def _catalog(self, name: str, args: FeatureStoreArgs, data_tags: Mapping[str, str]) -> None:
        child = pulumi.ResourceOptions(parent=self)
        self.glue_database = aws.glue.CatalogDatabase(
            f"{name}-features",
            name=f"mlplat_features_{name}",
            description=f"Offline feature tables of {args.env.region}",
            location_uri=self.offline_bucket.name.apply(lambda b: f"s3://{b}/tables/"),
            tags=data_tags,
            opts=child,
        )
        # The region's Data Catalog (one per account and region) encrypts metadata with the regional key.
        aws.glue.DataCatalogEncryptionSettings(
            f"{name}-glue-encryption",
            catalog_id=args.env.account_id,
            data_catalog_encryption_settings=aws.glue.DataCatalogEncryptionSettingsDataCatalogEncryptionSettingsArgs(
                encryption_at_rest=aws.glue.DataCatalogEncryptionSettingsDataCatalogEncryptionSettingsEncryptionAtRestArgs(
                    catalog_encryption_mode="SSE-KMS", sse_aws_kms_key_id=self.key.arn
                ),
                connection_password_encryption=aws.glue.DataCatalogEncryptionSettingsDataCatalogEncryptionSettingsConnectionPasswordEncryptionArgs(
                    return_connection_password_encrypted=True, aws_kms_key_id=self.key.arn
                ),
            ),
            opts=child,
        )

    def _roles(self, name: str, args: FeatureStoreArgs, cluster: ClusterIdentity) -> None:
        for service_account, policy in (
            (READER_SERVICE_ACCOUNT, self.read_policy),
            (WRITER_SERVICE_ACCOUNT, self.write_policy),
        ):
            role = irsa_role(
                f"{name}-{service_account}",
                cluster=cluster,
                namespace=FEATURES_NAMESPACE,
                service_account=service_account,
                env=args.env,
                purpose=f"the feature store of {args.env.region} only",
                policy=policy,
                role_name=f"mlplat-{name}-{service_account}",
                opts=pulumi.ResourceOptions(parent=self),
            )
            if service_account == WRITER_SERVICE_ACCOUNT:
                self.writer_role_arn = role.arn
            else:
                self.reader_role_arn = role.arn


def _access_for(region: str, write: bool, values: list[str]) -> str:
    return feature_access_policy(region, *values, write=write)


def feature_access_policy(
    region: str,
    partition: str,
    account_id: str,
    bucket_arn: str,
    key_arn: str,
    secret_arn: str,
    glue_database: str,
    *,
    write: bool,
) -> str:
    """Read (and for the writer, write) this region's store only: its bucket, key, secret and Glue database."""
    object_actions = ["s3:GetObject", "s3:GetObjectVersion"] + (["s3:PutObject", "s3:DeleteObject"] if write else [])
    glue_read = ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions"]
    glue_write = ["glue:CreateTable", "glue:UpdateTable", "glue:BatchCreatePartition", "glue:CreatePartition"]
    glue = f"arn:{partition}:glue:{region}:{account_id}"
    kms_actions = ["kms:Decrypt"] + (["kms:GenerateDataKey"] if write else [])
    return document(
        [
            {"Sid": "ListOfflineStore", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn},
            {"Sid": "OfflineObjects", "Effect": "Allow", "Action": object_actions, "Resource": f"{bucket_arn}/*"},
            {
                "Sid": "RegionalKeyThroughS3AndSecretsManager",
                "Effect": "Allow",
                "Action": kms_actions,
                "Resource": key_arn,
                "Condition": {
                    "StringEquals": {
                        "kms:ViaService": [f"s3.{region}.amazonaws.com", f"secretsmanager.{region}.amazonaws.com"]
                    }
                },
            },
            {
                "Sid": "OnlineStoreToken",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": secret_arn,
            },
            {
                "Sid": "OfflineCatalog",
                "Effect": "Allow",
                "Action": glue_read + (glue_write if write else []),
                "Resource": [f"{glue}:catalog", f"{glue}:database/{glue_database}", f"{glue}:table/{glue_database}/*"],
            },
        ]
    )


def feast_repo_config(project: str, region: str, redis_host: str, offline_bucket: str) -> str:
    """A Feast `feature_store.yaml` for this region: Redis online store over TLS, S3 file offline store.

    The auth token is not written here; Feast reads it from the `REDIS_PASSWORD`-style env the pod gets from the
    Secrets Manager secret (see docs/architecture.md).
    """
    config = {
        "project": project,
        "provider": "aws",
        "registry": f"s3://{offline_bucket}/feast/registry.db",
        "online_store": {
            "type": "redis",
            "redis_type": "redis",
            "connection_string": f"{redis_host}:{REDIS_PORT},ssl=true,password=${{REDIS_AUTH_TOKEN}}",
        },
        "offline_store": {"type": "file"},
        "entity_key_serialization_version": 3,
    }
    header = f"# Feast repo config of the mlplat feature store in {region} (rendered by mlplat; do not edit)\n"
    return header + yaml.safe_dump(config, sort_keys=False)
