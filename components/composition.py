"""What each kind of stack declares: the stack program (`stacks/__main__.py`) calls `compose` with validated config.

Providers are created here, one per region, and passed down; components never read ambient config.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from components import cluster_addons, eks_cluster, gpu_node_pool, interruption_handler, mlflow
from components.config import Deployment, GlobalStackConfig, RegionalStackConfig
from components.container_registry import ContainerRegistry, ContainerRegistryArgs
from components.feature_store import FeatureStore, FeatureStoreArgs
from components.ingress import ServingIngress, ServingIngressArgs
from components.kms_key import KmsKey, KmsKeyArgs
from components.load_balancer_controller import LoadBalancerController, LoadBalancerControllerArgs
from components.mlflow import Mlflow, MlflowArgs
from components.model_artifacts import ModelArtifacts, ModelArtifactsArgs
from components.naming import model_bucket_name
from components.network import RegionalNetwork, RegionalNetworkArgs
from components.observability import Observability, ObservabilityArgs
from components.public_zone import PublicZone, PublicZoneArgs
from components.registry_access import (
    RegistryBackups,
    RegistryBackupsArgs,
    RegistryEndpoint,
    RegistryEndpointArgs,
    RegistryEndpointService,
    RegistryEndpointServiceArgs,
    registry_tracking_uri,
)
from components.toolkit import ClusterIdentity, RegionEnv
from components.workloads import Workloads, WorkloadsArgs

# What the global stack exports and the regional stacks read through their StackReference.
MODEL_BUCKETS_OUTPUT = "model_buckets"  # {region: bucket name}, the primary and every read replica
DNS_OUTPUT = "dns"  # {zone_id, domain, name_servers}: the public zone regions write their names into
TRAFFIC_OUTPUT = "traffic"  # a regional stack's entry points; the registry's stack adds its endpoint service


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


def region_env(region: str, tags: dict[str, str], provider: aws.Provider) -> RegionEnv:
    """The stack's environment: the account and partition the provider's credentials resolve to."""
    invoke = pulumi.InvokeOutputOptions(provider=provider)
    identity = aws.get_caller_identity_output(opts=invoke)
    partition = aws.get_partition_output(opts=invoke)
    return RegionEnv(region=region, account_id=identity.account_id, partition=partition.partition, tags=tags)


def global_stack_name(deployment: Deployment) -> str:
    names = [n for n, s in deployment.stacks.items() if isinstance(s, GlobalStackConfig)]
    if not names:
        raise ValueError("regional stacks read the global stack's outputs, but no stack has kind: global")
    return names[0]


def global_stack_reference(deployment: Deployment) -> pulumi.StackReference:
    """The global stack of this project and organization (DESIGN §2: regions read it, never the other way)."""
    return stack_reference(deployment, global_stack_name(deployment))


def planned_global_outputs(deployment: Deployment) -> dict[str, object]:
    """The global stack's outputs as the naming convention predicts them; `mlplat synth` answers the regional
    stacks' StackReference with these (no engine, no state), and a test holds them to the global composition."""
    regions = sorted({s.region for s in deployment.stacks.values()})
    outputs: dict[str, object] = {MODEL_BUCKETS_OUTPUT: {region: model_bucket_name(region) for region in regions}}
    traffic = deployment.platform.traffic
    if traffic is not None:  # a hosted zone's id is AWS's to choose: a stand-in of the same shape
        outputs[DNS_OUTPUT] = {"zone_id": "Z0PLANNEDZONE", "domain": traffic.domain, "name_servers": []}
    return outputs


def planned_stack_outputs(deployment: Deployment) -> dict[str, dict[str, object]]:
    """Every stack another stack reads, with its planned outputs: the global stack, and the registry's regional
    stack whose PrivateLink service the other regions connect to."""
    outputs = {global_stack_name(deployment): planned_global_outputs(deployment)}
    registry = deployment.registry_stack_name()
    if registry is not None:
        region = deployment.stack(registry).region
        outputs[registry] = {
            TRAFFIC_OUTPUT: {"registry_endpoint_service": f"com.amazonaws.vpce.{region}.vpce-svc-0planned"}
        }
    return outputs


def stack_reference(deployment: Deployment, name: str) -> pulumi.StackReference:
    """Another stack of this project (stacks deploy one way, so only ever one deployed before this one)."""
    deployment.stack(name)  # a stack this project lacks is a config error, named
    return pulumi.StackReference(
        f"{name}-stack", stack_name=f"{pulumi.get_organization()}/{pulumi.get_project()}/{name}"
    )


def regional_model_bucket(region: str, buckets: Mapping[str, str]) -> str:
    """This region's entry of the global stack's `model_buckets` output."""
    try:
        return str(buckets[region])
    except KeyError:
        raise ValueError(
            f"the global stack exports no model bucket for {region}; deploy the global stack first "
            "(it adds a read replica for every regional stack's region)"
        ) from None


def _compose_regional(deployment: Deployment, stack_name: str, stack: RegionalStackConfig) -> None:
    tags = deployment.tags_for(stack_name)
    prefix = deployment.prefix_for(stack_name)
    provider = regional_provider(stack.region, tags)
    opts = pulumi.ResourceOptions(provider=provider)
    env = region_env(stack.region, tags, provider)
    global_stack = global_stack_reference(deployment)
    model_bucket = global_stack.require_output(MODEL_BUCKETS_OUTPUT).apply(
        functools.partial(regional_model_bucket, stack.region)
    )

    network = RegionalNetwork(
        prefix,
        RegionalNetworkArgs(
            env=env,
            cidr=stack.network.cidr,
            availability_zones=stack.availability_zones(),
            cluster_name=f"{prefix}-eks",
            nat=stack.network.nat,
            flow_logs_retention_days=stack.network.flow_logs_retention_days,
            interface_endpoints=stack.network.interface_endpoints,
        ),
        opts=opts,
    )
    cluster, addons = _compose_cluster(stack, prefix=prefix, env=env, network=network, opts=opts)
    features = FeatureStore(
        prefix,
        FeatureStoreArgs(
            env=env,
            tenants=deployment.tenants_stored_in(stack.region),
            vpc_id=network.vpc_id,
            intra_subnet_ids=network.intra_subnet_ids,
            s3_endpoint_id=network.s3_endpoint.id,
            settings=stack.feature_store,
            client_security_group_ids=[cluster.ref.node_security_group_id],
            cluster=ClusterIdentity(
                oidc_provider_arn=cluster.ref.oidc_provider_arn, oidc_issuer_url=cluster.ref.oidc_issuer_url
            ),
        ),
        opts=opts,
    )
    _compose_runtime(
        deployment, stack, prefix=prefix, env=env, network=network, cluster=cluster, addons=addons,
        features=features, model_bucket=model_bucket, global_stack=global_stack, opts=opts,
    )  # fmt: skip
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
            "reader_role_arn": features.reader_role_arn,
            "writer_role_arn": features.writer_role_arn,
        },
    )
    pulumi.export("vpc_id", network.vpc_id)
    pulumi.export("private_subnet_ids", network.private_subnet_ids)
    pulumi.export("intra_subnet_ids", network.intra_subnet_ids)


def default_tracking_uri(primary_region: str) -> str:
    """Where other regions reach the one MLflow: its private name, resolved in every region's VPC to the primary
    region's registry NLB or to this region's PrivateLink endpoint to it (`workloads.tracking_uri` overrides)."""
    return registry_tracking_uri(primary_region)


def _compose_runtime(
    deployment: Deployment,
    stack: RegionalStackConfig,
    *,
    prefix: str,
    env: RegionEnv,
    network: RegionalNetwork,
    cluster: eks_cluster.EksCluster,
    addons: cluster_addons.ClusterAddons,
    features: FeatureStore,
    model_bucket: pulumi.Output[str],
    global_stack: pulumi.StackReference,
    opts: pulumi.ResourceOptions,
) -> None:
    """Observability, the serving and drift workloads and, in the primary region only, MLflow."""
    after_cluster = pulumi.ResourceOptions(provider=opts.provider, depends_on=[cluster])
    observability = Observability(
        prefix,
        ObservabilityArgs(cluster=cluster.ref, env=env, settings=stack.observability),
        opts=after_cluster,
    )
    residency = deployment.residency()
    tracking_uri = stack.workloads.tracking_uri or (
        f"http://mlflow.{mlflow.NAMESPACE}.svc.cluster.local:{mlflow.PORT}"
        if stack.mlflow.enabled
        else default_tracking_uri(deployment.platform.primary_region)
    )
    workloads = Workloads(
        prefix,
        WorkloadsArgs(
            cluster=cluster.ref,
            env=env,
            settings=stack.workloads,
            tracking_uri=tracking_uri,
            residency={
                "jurisdictions": {n: list(r) for n, r in residency.jurisdictions.items()},
                "tenants": {
                    n: {
                        "jurisdiction": t.jurisdiction,
                        "home_region": t.home_region,
                        "failover_regions": list(t.failover_regions),
                    }
                    for n, t in residency.tenants.items()
                },
            },
            redis_host=features.redis_host,
            redis_token_secret_arn=features.auth_secret.arn,
            feature_read_policy=features.read_policy,
            model_bucket=model_bucket,
            access_log_bucket=features.log_bucket.name,
            pushgateway_url=observability.pushgateway_url,
            after=[*addons.secrets_store_csi, observability.stack],
        ),
        opts=after_cluster,
    )
    exports: dict[str, object] = {
        "amp_workspace_arn": observability.workspace.arn,
        "prediction_bucket": workloads.prediction_bucket.name,
        "serving_role_arn": workloads.serving_role.arn,
        "tracking_uri": tracking_uri,
    }
    if stack.mlflow.enabled:
        server = Mlflow(
            prefix,
            MlflowArgs(
                cluster=cluster.ref,
                env=env,
                vpc_id=network.vpc_id,
                intra_subnet_ids=network.intra_subnet_ids,
                artifact_bucket=model_bucket,
                settings=stack.mlflow,
                after=addons.secrets_store_csi,
            ),
            opts=after_cluster,
        )
        exports |= {"mlflow_db_endpoint": server.db.address, "mlflow_role_arn": server.role.arn}
    _compose_traffic(
        deployment, stack, prefix=prefix, env=env, network=network, cluster=cluster, global_stack=global_stack,
        serving=[workloads], registry=server if stack.mlflow.enabled else None, opts=opts,
    )  # fmt: skip
    pulumi.export("runtime", exports)


def _compose_traffic(
    deployment: Deployment,
    stack: RegionalStackConfig,
    *,
    prefix: str,
    env: RegionEnv,
    network: RegionalNetwork,
    cluster: eks_cluster.EksCluster,
    global_stack: pulumi.StackReference,
    serving: Sequence[pulumi.Resource],
    registry: Mlflow | None,
    opts: pulumi.ResourceOptions,
) -> None:
    """Traffic entry (ALB + WAF + DNS names), the registry from every region (PrivateLink), and the registry
    database's backups in a second region of its jurisdiction (docs/dr.md)."""
    after_cluster = pulumi.ResourceOptions(provider=opts.provider, depends_on=[cluster])
    controller = LoadBalancerController(
        prefix,
        LoadBalancerControllerArgs(cluster=cluster.ref, env=env, vpc_id=network.vpc_id, target_group_prefix=prefix),
        opts=after_cluster,
    )
    traffic = deployment.platform.traffic
    exports: dict[str, object] = {}
    if stack.ingress.enabled and traffic is not None:
        ingress = ServingIngress(
            prefix,
            ServingIngressArgs(
                cluster=cluster.ref,
                env=env,
                jurisdiction=stack.jurisdiction,
                vpc_id=network.vpc_id,
                vpc_cidr=str(stack.network.cidr),
                public_subnet_ids=network.public_subnet_ids,
                private_subnet_ids=network.private_subnet_ids,
                settings=stack.ingress,
                domain=traffic.domain,
                zone_id=global_stack.require_output(DNS_OUTPUT).apply(lambda dns: str(dns["zone_id"])),
                tenants=deployment.residency().tenants_in(stack.region),
                deletion_protection=stack.environment == "production",
                after=[*serving, controller],
            ),
            opts=after_cluster,
        )
        exports |= {
            "serving_url": f"https://{ingress.region_fqdn}",
            "jurisdiction_url": f"https://{ingress.jurisdiction_fqdn}",
            "load_balancer_dns_name": ingress.load_balancer.dns_name,
        }
    if registry is not None:
        others = sorted(s.region for s in deployment.regional().values() if s.region != stack.region)
        service = RegistryEndpointService(
            prefix,
            RegistryEndpointServiceArgs(
                cluster=cluster.ref, env=env, vpc_id=network.vpc_id, vpc_cidr=str(stack.network.cidr),
                subnet_ids=network.private_subnet_ids, consumer_regions=others,
                deletion_protection=stack.environment == "production", after=[registry, controller],
            ),
            opts=after_cluster,
        )  # fmt: skip
        exports["registry_endpoint_service"] = service.service_name
        replica = stack.mlflow.backup_replica_region
        if replica is not None:
            RegistryBackups(
                prefix,
                RegistryBackupsArgs(
                    env=env.in_region(replica), source_db_arn=registry.db.arn,
                    retention_days=stack.mlflow.backup_retention_days,
                    replica_provider=regional_provider(replica, dict(env.tags)),
                ),
                opts=opts,
            )  # fmt: skip
            exports["registry_backups_region"] = replica
    elif (registry_stack := deployment.registry_stack_name()) is not None:
        registry_outputs = stack_reference(deployment, registry_stack).require_output(TRAFFIC_OUTPUT)
        RegistryEndpoint(
            prefix,
            RegistryEndpointArgs(
                env=env, primary_region=deployment.platform.primary_region, vpc_id=network.vpc_id,
                subnet_ids=network.private_subnet_ids, client_security_group_id=cluster.ref.node_security_group_id,
                service_name=registry_outputs.apply(lambda t: str(t["registry_endpoint_service"])),
            ),
            opts=opts,
        )  # fmt: skip
    pulumi.export(TRAFFIC_OUTPUT, exports)


def _compose_cluster(
    stack: RegionalStackConfig,
    *,
    prefix: str,
    env: RegionEnv,
    network: RegionalNetwork,
    opts: pulumi.ResourceOptions,
) -> tuple[eks_cluster.EksCluster, cluster_addons.ClusterAddons]:
    """EKS with its system pool, the GPU pools and their interruption handling, and the Helm add-ons.
    Returns the cluster (`cluster.ref` is what workloads build on) and the add-ons (the CSI driver they need)."""
    config = stack.cluster
    cluster = eks_cluster.EksCluster(
        f"{prefix}-eks",
        eks_cluster.EksClusterArgs(
            cluster_name=f"{prefix}-eks",  # the name RegionalNetwork tags its subnets for
            env=env,
            vpc_id=network.vpc_id,
            subnet_ids=network.private_subnet_ids,
            kubernetes_version=config.kubernetes_version,
            endpoint_public_access=config.endpoint_public_access,
            public_access_cidrs=[str(c) for c in config.public_access_cidrs],
            log_retention_days=config.log_retention_days,
            admin_principal_arns=config.admin_principal_arns,
            deletion_protection=stack.environment == "production",
            system_instance_types=config.system_pool.instance_types,
            system_size=config.system_pool.size(),
            system_disk_size_gib=config.system_pool.disk_size_gib,
        ),
        opts=opts,
    )
    pools = [
        gpu_node_pool.GpuNodePool(
            f"{prefix}-gpu-{pool.name}",
            gpu_node_pool.GpuNodePoolArgs(
                cluster=cluster.ref,
                pool_name=pool.name,
                purpose=pool.purpose,
                subnet_ids=network.private_subnet_ids,
                instance_types=pool.instance_types,
                mix=pool.mix(),
                size=pool.size(),
                env=env,
                root_volume_gib=pool.root_volume_gib,
            ),
            opts=opts,
        )
        for pool in stack.gpu_pools
    ]
    after_nodes = pulumi.ResourceOptions(provider=opts.provider, depends_on=[cluster])
    if pools:
        interruption_handler.InterruptionHandler(
            f"{prefix}-interruption",
            interruption_handler.InterruptionHandlerArgs(
                cluster=cluster.ref,
                env=env,
                asg_names=[p.asg_name for p in pools],
                asg_arns=[p.asg_arn for p in pools],
            ),
            opts=after_nodes,
        )
    addons = cluster_addons.ClusterAddons(
        f"{prefix}-addons",
        cluster_addons.ClusterAddonsArgs(
            cluster=cluster.ref,
            env=env,
            spot_preferences=[(p.asg_name, p.spot_percentage_above_base) for p in pools],
            former_csi_parent=prefix,  # installed by Workloads(prefix) before it became an add-on
        ),
        opts=after_nodes,
    )
    pulumi.export("eks_cluster_name", cluster.cluster_name)
    pulumi.export("eks_cluster_endpoint", cluster.endpoint)
    pulumi.export("eks_oidc_provider_arn", cluster.oidc_provider_arn)
    pulumi.export("eks_kubeconfig", cluster.kubeconfig)  # no credentials: `aws eks get-token --region` signs in
    pulumi.export("eks_node_security_group_id", cluster.node_security_group_id)
    pulumi.export(
        "eks_node_role_arns",
        {
            "system": cluster.system_node_role_arn,
            **{pool.name: p.node_role_arn for pool, p in zip(stack.gpu_pools, pools, strict=True)},
        },
    )
    pulumi.export("gpu_pool_asg_names", {pool.name: p.asg_name for pool, p in zip(stack.gpu_pools, pools, strict=True)})
    return cluster, addons


def _compose_global(deployment: Deployment, stack_name: str, stack: GlobalStackConfig) -> None:
    tags = deployment.tags_for(stack_name)
    prefix = deployment.prefix_for(stack_name)
    provider = regional_provider(stack.region, tags)
    env = region_env(stack.region, tags, provider)
    in_primary = pulumi.ResourceOptions(provider=provider)
    # One key for what is global by nature in the primary region: container images and model artifacts.
    artifacts_key = KmsKey(
        f"{prefix}-artifacts-key",
        KmsKeyArgs.for_env(
            env, description="mlplat global artifacts (ECR images, model artifacts) in the primary region"
        ),
        opts=in_primary,
    )
    replica_regions = sorted({s.region for s in deployment.regional().values()} - {stack.region})
    registry = ContainerRegistry(
        f"{prefix}-ecr",
        ContainerRegistryArgs(
            env=env,
            repositories=stack.registry.repositories,
            replica_regions=replica_regions,
            kms_key_arn=artifacts_key.arn,
            keep_tagged_images=stack.registry.keep_tagged_images,
            expire_untagged_after_days=stack.registry.expire_untagged_after_days,
        ),
        opts=in_primary,
    )
    models = ModelArtifacts(
        prefix,
        ModelArtifactsArgs(
            env=env,
            primary_key_arn=artifacts_key.arn,
            replica_providers={region: regional_provider(region, tags) for region in replica_regions},
        ),
        opts=in_primary,
    )
    pulumi.export("region", stack.region)
    pulumi.export("jurisdiction", stack.jurisdiction)
    pulumi.export("artifacts_key_arn", artifacts_key.arn)
    pulumi.export("repository_urls", registry.repository_urls)
    pulumi.export(MODEL_BUCKETS_OUTPUT, {stack.region: models.primary.name, **models.replica_buckets})
    traffic = deployment.platform.traffic
    if traffic is not None:
        zone = PublicZone(prefix, PublicZoneArgs(domain=traffic.domain, tags=dict(env.tags)), opts=in_primary)
        pulumi.export(
            DNS_OUTPUT, {"zone_id": zone.zone_id, "domain": traffic.domain, "name_servers": zone.name_servers}
        )
