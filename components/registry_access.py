"""The one MLflow registry, reachable privately from every region, and its database's disaster-recovery copy.

In the primary region an internal NLB declared here fronts the tracking server (bound to its pods by a
`TargetGroupBinding`) and backs a PrivateLink endpoint service that the other regions may reach; every other region
creates a cross-region interface endpoint to it. All regions resolve the same private name
(`mlflow.<code>.mlplat.internal`) in a private hosted zone of their own VPC, so the serving, drift and training
workloads are configured with one tracking URI everywhere. Why PrivateLink and not a transit gateway: see
docs/architecture.md ("The registry from every region").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.eks_cluster import ClusterRef
from components.kms_key import KmsKey, KmsKeyArgs
from components.naming import region_code
from components.toolkit import RegionEnv, alias_record, allow_tcp, private_zone

PRIVATE_ZONE = "mlplat.internal"
ZONE_COMMENT = "mlplat private names (same in every region's VPC)"
MLFLOW_PORT = 5000


def registry_host(primary_region: str) -> str:
    """The registry's private name, the same in every region's VPC."""
    return f"mlflow.{region_code(primary_region)}.{PRIVATE_ZONE}"


def registry_tracking_uri(primary_region: str) -> str:
    return f"http://{registry_host(primary_region)}:{MLFLOW_PORT}"


@dataclass(frozen=True, kw_only=True)
class RegistryEndpointServiceArgs:
    """The primary region's side: NLB, endpoint service, private name."""

    cluster: ClusterRef
    env: RegionEnv
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    subnet_ids: Sequence[pulumi.Input[str]]
    consumer_regions: Sequence[str]  # the regions whose endpoints may connect
    mlflow_namespace: str = "mlflow"
    mlflow_service: str = "mlflow"
    deletion_protection: bool = True
    after: Sequence[pulumi.Resource] = ()  # the MLflow Service and the load balancer controller


class RegistryEndpointService(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: RegistryEndpointServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplat:index:RegistryEndpointService", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.env.tagged(**{"mlplat/data-class": "models"})
        group = aws.ec2.SecurityGroup(
            f"{name}-registry-nlb",
            vpc_id=args.vpc_id,
            description=f"{name}: the registry NLB (this VPC and PrivateLink consumers)",
            tags={**tags, "Name": f"{name}-registry-nlb"},
            opts=child,
        )
        allow_tcp(f"{name}-registry-nlb-in", security_group_id=group.id, port=MLFLOW_PORT, cidr=args.vpc_cidr,
                  description="MLflow from this VPC", tags=tags, opts=child)  # fmt: skip
        allow_tcp(f"{name}-registry-nlb-out", security_group_id=group.id, port=MLFLOW_PORT, direction="egress",
                  peer_group_id=args.cluster.node_security_group_id, description="to the MLflow pods", tags=tags,
                  opts=child)  # fmt: skip
        allow_tcp(f"{name}-mlflow-pods-from-nlb", security_group_id=args.cluster.node_security_group_id,
                  port=MLFLOW_PORT, peer_group_id=group.id, description="MLflow pods from the registry NLB", tags=tags,
                  opts=child)  # fmt: skip
        self.target_group = aws.lb.TargetGroup(
            f"{name}-registry",
            name=f"{name}-registry"[:32],
            port=MLFLOW_PORT,
            protocol="TCP",
            target_type="ip",
            vpc_id=args.vpc_id,
            deregistration_delay=30,
            health_check=aws.lb.TargetGroupHealthCheckArgs(protocol="HTTP", path="/health", interval=10),
            tags=tags,
            opts=child,
        )
        self.load_balancer = aws.lb.LoadBalancer(
            f"{name}-registry-nlb",
            name=f"{name}-registry"[:32],
            load_balancer_type="network",
            internal=True,
            subnets=list(args.subnet_ids),
            security_groups=[group.id],
            # PrivateLink traffic arrives from the NLB's own addresses; the endpoint's group guards it instead.
            enforce_security_group_inbound_rules_on_private_link_traffic="off",
            enable_cross_zone_load_balancing=True,
            enable_deletion_protection=args.deletion_protection,
            tags=tags,
            opts=child,
        )
        aws.lb.Listener(
            f"{name}-registry-tcp",
            load_balancer_arn=self.load_balancer.arn,
            port=MLFLOW_PORT,
            protocol="TCP",
            default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=self.target_group.arn)],
            tags=tags,
            opts=child,
        )
        k8s.apiextensions.CustomResource(
            f"{name}-registry-tgb",
            api_version="elbv2.k8s.aws/v1beta1",
            kind="TargetGroupBinding",
            metadata={"name": args.mlflow_service, "namespace": args.mlflow_namespace},
            spec={
                "serviceRef": {"name": args.mlflow_service, "port": MLFLOW_PORT},
                "targetGroupARN": self.target_group.arn,
                "targetType": "ip",
            },
            opts=pulumi.ResourceOptions(
                parent=self, provider=args.cluster.kubernetes_provider, depends_on=list(args.after)
            ),
        )
        # Connections are accepted without a manual step because only this account's principals may connect.
        self.endpoint_service = aws.ec2.VpcEndpointService(
            f"{name}-registry",
            acceptance_required=False,
            network_load_balancer_arns=[self.load_balancer.arn],
            allowed_principals=[args.env.arn("iam", "root", regional=False)],
            supported_regions=sorted({args.env.region, *args.consumer_regions}),
            tags={**tags, "Name": f"{name}-registry"},
            opts=child,
        )
        zone = private_zone(f"{name}-internal", zone=PRIVATE_ZONE, vpc_id=args.vpc_id, region=args.env.region,
                            comment=ZONE_COMMENT, tags=tags, opts=child)  # fmt: skip
        alias_record(f"{name}-registry-name", zone_id=zone.zone_id, host=registry_host(args.env.region),
                     load_balancer=self.load_balancer, opts=child)  # fmt: skip
        self.service_name = self.endpoint_service.service_name
        self.register_outputs({"service_name": self.service_name, "nlb_arn": self.load_balancer.arn})


@dataclass(frozen=True, kw_only=True)
class RegistryEndpointArgs:
    """Another region's side: an interface endpoint to the primary region's service, the same private name."""

    env: RegionEnv
    primary_region: str
    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    client_security_group_id: pulumi.Input[str]  # the nodes
    service_name: pulumi.Input[str]  # from the primary regional stack's outputs


class RegistryEndpoint(pulumi.ComponentResource):
    def __init__(self, name: str, args: RegistryEndpointArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplat:index:RegistryEndpoint", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # The registry holds model metadata, global by design (DESIGN §3); no tenant data crosses here.
        tags = args.env.tagged(**{"mlplat/data-class": "models"})
        group = aws.ec2.SecurityGroup(
            f"{name}-registry-endpoint",
            vpc_id=args.vpc_id,
            description=f"{name}: the registry endpoint, from the nodes only",
            tags={**tags, "Name": f"{name}-registry-endpoint"},
            opts=child,
        )
        allow_tcp(f"{name}-registry-endpoint-in", security_group_id=group.id, port=MLFLOW_PORT,
                  peer_group_id=args.client_security_group_id, description="MLflow from the cluster's nodes",
                  tags=tags, opts=child)  # fmt: skip
        self.endpoint = aws.ec2.VpcEndpoint(
            f"{name}-registry",
            vpc_id=args.vpc_id,
            vpc_endpoint_type="Interface",
            service_name=args.service_name,
            service_region=args.primary_region,
            subnet_ids=list(args.subnet_ids),
            security_group_ids=[group.id],
            private_dns_enabled=False,
            tags={**tags, "Name": f"{name}-registry"},
            opts=child,
        )
        zone = private_zone(f"{name}-internal", zone=PRIVATE_ZONE, vpc_id=args.vpc_id, region=args.env.region,
                            comment=ZONE_COMMENT, tags=tags, opts=child)  # fmt: skip
        aws.route53.Record(
            f"{name}-registry-name",
            zone_id=zone.zone_id,
            name=registry_host(args.primary_region),
            type="CNAME",
            ttl=60,
            records=[self.endpoint.dns_entries.apply(lambda entries: entries[0]["dns_name"] if entries else "")],
            opts=child,
        )
        self.register_outputs({"endpoint_id": self.endpoint.id})


@dataclass(frozen=True, kw_only=True)
class RegistryBackupsArgs:
    """Automated backups of the registry database, replicated to a second region of the same jurisdiction."""

    env: RegionEnv  # the replica region's
    source_db_arn: pulumi.Input[str]
    retention_days: int
    replica_provider: pulumi.ProviderResource


class RegistryBackups(pulumi.ComponentResource):
    def __init__(self, name: str, args: RegistryBackupsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplat:index:RegistryBackups", name, None, opts)
        there = pulumi.ResourceOptions(parent=self, provider=args.replica_provider)
        # Backups are encrypted in the destination region with a key of that region (RDS requires it).
        self.key = KmsKey(
            f"{name}-registry-backups-key",
            KmsKeyArgs.for_env(args.env, description=f"mlplat registry database backups in {args.env.region}"),
            opts=there,
        )
        self.replication = aws.rds.InstanceAutomatedBackupsReplication(
            f"{name}-registry-backups",
            source_db_instance_arn=args.source_db_arn,
            kms_key_id=self.key.arn,
            retention_period=args.retention_days,
            opts=there,
        )
        self.register_outputs({"replication_id": self.replication.id})
