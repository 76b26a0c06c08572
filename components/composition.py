"""What each kind of stack declares: the stack program (`stacks/__main__.py`) calls `compose` with validated config.

Providers are created here, one per region, and passed down; components never read ambient config.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.config import Deployment, GlobalStackConfig, RegionalStackConfig
from components.container_registry import ContainerRegistry, ContainerRegistryArgs
from components.feature_store import FeatureStore, FeatureStoreArgs
from components.kms_key import KmsKey, KmsKeyArgs
from components.model_artifacts import ModelArtifacts, ModelArtifactsArgs
from components.network import RegionalNetwork, RegionalNetworkArgs


def regional_provider(region: str, tags: dict[str, str]) -> aws.Provider:
    """The only way resources reach a region: an explicit provider whose default tags cover every resource."""
    return aws.Provider(
        f"aws-{region}",
        region=region,
        default_tags=aws.ProviderDefaultTagsArgs(tags=tags),
    )


def compose(deployment: Deployment, stack_name: str) -> None:
    stack = deployment.stack(stack_name)
    if isinstance(stack, RegionalStackConfig):
        _compose_regional(deployment, stack_name, stack)
    else:
        _compose_global(deployment, stack_name, stack)


def _account(provider: aws.Provider) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
    invoke = pulumi.InvokeOutputOptions(provider=provider)
    identity = aws.get_caller_identity_output(opts=invoke)
    partition = aws.get_partition_output(opts=invoke)
    return identity.account_id, partition.partition


def _compose_regional(deployment: Deployment, stack_name: str, stack: RegionalStackConfig) -> None:
    tags = deployment.tags_for(stack_name)
    prefix = deployment.prefix_for(stack_name)
    provider = regional_provider(stack.region, tags)
    opts = pulumi.ResourceOptions(provider=provider)
    account_id, partition = _account(provider)

    network = RegionalNetwork(
        prefix,
        RegionalNetworkArgs(
            region=stack.region,
            cidr=stack.network.cidr,
            availability_zones=stack.availability_zones(),
            account_id=account_id,
            partition=partition,
            cluster_name=f"{prefix}-eks",
            nat=stack.network.nat,
            flow_logs_retention_days=stack.network.flow_logs_retention_days,
            interface_endpoints=stack.network.interface_endpoints,
            tags=tags,
        ),
        opts=opts,
    )
    features = FeatureStore(
        prefix,
        FeatureStoreArgs(
            region=stack.region,
            tenants=deployment.tenants_stored_in(stack.region),
            vpc_id=network.vpc_id,
            intra_subnet_ids=network.intra_subnet_ids,
            s3_endpoint_id=network.s3_endpoint.id,
            account_id=account_id,
            partition=partition,
            settings=stack.feature_store,
            tags=tags,
        ),
        opts=opts,
    )
    pulumi.export("region", stack.region)
    pulumi.export("jurisdiction", stack.jurisdiction)
    pulumi.export(
        "feature_store",
        {
            "tenants": deployment.tenants_stored_in(stack.region),
            "redis_host": features.redis_host,
            "offline_bucket": features.offline_bucket.name,
            "auth_token_secret_arn": features.auth_secret.arn,
            "client_security_group_id": features.client_security_group.id,
        },
    )
    pulumi.export("vpc_id", network.vpc_id)
    pulumi.export("private_subnet_ids", network.private_subnet_ids)
    pulumi.export("intra_subnet_ids", network.intra_subnet_ids)


def _compose_global(deployment: Deployment, stack_name: str, stack: GlobalStackConfig) -> None:
    tags = deployment.tags_for(stack_name)
    prefix = deployment.prefix_for(stack_name)
    provider = regional_provider(stack.region, tags)
    account_id, partition = _account(provider)
    in_primary = pulumi.ResourceOptions(provider=provider)
    # One key for what is global by nature in the primary region: container images and model artifacts.
    artifacts_key = KmsKey(
        f"{prefix}-artifacts-key",
        KmsKeyArgs(
            description="mlplat global artifacts (ECR images, model artifacts) in the primary region",
            account_id=account_id,
            partition=partition,
            tags=tags,
        ),
        opts=in_primary,
    )
    replica_regions = sorted({s.region for s in deployment.regional().values()} - {stack.region})
    registry = ContainerRegistry(
        f"{prefix}-ecr",
        ContainerRegistryArgs(
            repositories=stack.registry.repositories,
            replica_regions=replica_regions,
            account_id=account_id,
            kms_key_arn=artifacts_key.arn,
            keep_tagged_images=stack.registry.keep_tagged_images,
            expire_untagged_after_days=stack.registry.expire_untagged_after_days,
            tags=tags,
        ),
        opts=in_primary,
    )
    models = ModelArtifacts(
        prefix,
        ModelArtifactsArgs(
            primary_region=stack.region,
            account_id=account_id,
            partition=partition,
            primary_key_arn=artifacts_key.arn,
            replica_providers={region: regional_provider(region, tags) for region in replica_regions},
            tags=tags,
        ),
        opts=in_primary,
    )
    pulumi.export("region", stack.region)
    pulumi.export("jurisdiction", stack.jurisdiction)
    pulumi.export("artifacts_key_arn", artifacts_key.arn)
    pulumi.export("repository_urls", registry.repository_urls)
    pulumi.export("model_buckets", {stack.region: models.primary.name, **models.replica_buckets})
