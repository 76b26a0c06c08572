"""The regional VPC: per-AZ public, private and intra subnets, NAT, private endpoints and encrypted flow logs."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from components.cidr import plan_subnets
from components.iam_documents import service_trust
from components.toolkit import RegionEnv, encrypted_log_group


@dataclass(frozen=True, kw_only=True)
class RegionalNetworkArgs:
    env: RegionEnv
    cidr: ipaddress.IPv4Network
    availability_zones: Sequence[str]
    cluster_name: str | None = None  # subnets are tagged for this EKS cluster's load balancers
    nat: Literal["per_az", "single"] = "per_az"
    flow_logs_retention_days: int = 365
    interface_endpoints: Sequence[str] = ("ecr.api", "ecr.dkr", "sts", "logs")


class RegionalNetwork(pulumi.ComponentResource):
    """One VPC per regional stack. Nodes and pods live in private subnets, data stores in intra subnets (no route
    out), load balancers and NAT in public subnets; AWS APIs are reached through VPC endpoints."""

    def __init__(self, name: str, args: RegionalNetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplat:index:RegionalNetwork", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.env.tags)

        def named(resource_name: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
            return {**tags, "Name": resource_name, **(extra or {})}

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=str(args.cidr),
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags=named(f"{name}-vpc"),
            opts=child,
        )
        # An empty default security group: nothing can use it by accident (CIS 5.4).
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg", vpc_id=self.vpc.id, tags=named(f"{name}-default-sg"), opts=child
        )
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=self.vpc.id, tags=named(f"{name}-igw"), opts=child)

        cluster_tag = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"} if args.cluster_name else {}
        plan = plan_subnets(args.cidr, list(args.availability_zones))
        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt",
            vpc_id=self.vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags=named(f"{name}-public-rt"),
            opts=child,
        )
        public_subnets: list[aws.ec2.Subnet] = []
        private_subnets: list[aws.ec2.Subnet] = []
        intra_subnets: list[aws.ec2.Subnet] = []
        nat_gateways: list[aws.ec2.NatGateway] = []
        private_route_tables: list[aws.ec2.RouteTable] = []
        intra_rt = aws.ec2.RouteTable(
            f"{name}-intra-rt", vpc_id=self.vpc.id, tags=named(f"{name}-intra-rt"), opts=child
        )

        for index, subnets in enumerate(plan):
            suffix = subnets.az[-1]
            public = aws.ec2.Subnet(
                f"{name}-public-{suffix}",
                vpc_id=self.vpc.id,
                cidr_block=str(subnets.public),
                availability_zone=subnets.az,
                map_public_ip_on_launch=False,  # only NAT gateways and load balancers live here, with their own IPs
                tags=named(
                    f"{name}-public-{suffix}", {"mlplat/tier": "public", "kubernetes.io/role/elb": "1", **cluster_tag}
                ),
                opts=child,
            )
            private = aws.ec2.Subnet(
                f"{name}-private-{suffix}",
                vpc_id=self.vpc.id,
                cidr_block=str(subnets.private),
                availability_zone=subnets.az,
                map_public_ip_on_launch=False,
                tags=named(
                    f"{name}-private-{suffix}",
                    {"mlplat/tier": "private", "kubernetes.io/role/internal-elb": "1", **cluster_tag},
                ),
                opts=child,
            )
            intra = aws.ec2.Subnet(
                f"{name}-intra-{suffix}",
                vpc_id=self.vpc.id,
                cidr_block=str(subnets.intra),
                availability_zone=subnets.az,
                map_public_ip_on_launch=False,
                tags=named(f"{name}-intra-{suffix}", {"mlplat/tier": "intra"}),
                opts=child,
            )
            public_subnets.append(public)
            private_subnets.append(private)
            intra_subnets.append(intra)
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{suffix}-rta", subnet_id=public.id, route_table_id=public_rt.id, opts=child
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-intra-{suffix}-rta", subnet_id=intra.id, route_table_id=intra_rt.id, opts=child
            )
            if args.nat == "per_az" or index == 0:
                eip = aws.ec2.Eip(
                    f"{name}-nat-{suffix}-eip", domain="vpc", tags=named(f"{name}-nat-{suffix}"), opts=child
                )
                nat_gateways.append(
                    aws.ec2.NatGateway(
                        f"{name}-nat-{suffix}",
                        allocation_id=eip.allocation_id,
                        subnet_id=public.id,
                        tags=named(f"{name}-nat-{suffix}"),
                        opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                    )
                )
            private_rt = aws.ec2.RouteTable(
                f"{name}-private-{suffix}-rt",
                vpc_id=self.vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat_gateways[-1].id)],
                tags=named(f"{name}-private-{suffix}-rt"),
                opts=child,
            )
            private_route_tables.append(private_rt)
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{suffix}-rta", subnet_id=private.id, route_table_id=private_rt.id, opts=child
            )

        # S3 through a gateway endpoint: free, and feature buckets can require it in their bucket policies.
        self.s3_endpoint = aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{args.env.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for rt in [*private_route_tables, intra_rt]],
            tags=named(f"{name}-s3"),
            opts=child,
        )
        self.endpoint_security_group = aws.ec2.SecurityGroup(
            f"{name}-endpoints-sg",
            vpc_id=self.vpc.id,
            description="HTTPS from inside the VPC to the interface endpoints; nothing else",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    description="HTTPS from the VPC",
                    protocol="tcp",
                    from_port=443,
                    to_port=443,
                    cidr_blocks=[str(args.cidr)],
                )
            ],
            egress=[],
            tags=named(f"{name}-endpoints-sg"),
            opts=child,
        )
        for service in args.interface_endpoints:
            aws.ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}",
                vpc_id=self.vpc.id,
                service_name=f"com.amazonaws.{args.env.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=[s.id for s in private_subnets],
                security_group_ids=[self.endpoint_security_group.id],
                tags=named(f"{name}-{service}"),
                opts=child,
            )

        self._flow_logs(name, args, tags)

        self.vpc_id = self.vpc.id
        self.public_subnet_ids = [s.id for s in public_subnets]
        self.private_subnet_ids = [s.id for s in private_subnets]
        self.intra_subnet_ids = [s.id for s in intra_subnets]
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
                "intra_subnet_ids": self.intra_subnet_ids,
                "s3_endpoint_id": self.s3_endpoint.id,
            }
        )

    def _flow_logs(self, name: str, args: RegionalNetworkArgs, tags: Mapping[str, str]) -> None:
        """Every accepted and rejected flow, to a KMS-encrypted log group that expires on purpose."""
        child = pulumi.ResourceOptions(parent=self)
        log_group = encrypted_log_group(
            f"{name}-flow-logs",
            log_group=f"/mlplat/{name}/vpc-flow-logs",
            env=args.env,
            retention_days=args.flow_logs_retention_days,
            description=f"VPC flow logs of {name}",
            opts=child,
        )
        trust = pulumi.Output.from_input(args.env.account_id).apply(
            lambda account: service_trust("vpc-flow-logs.amazonaws.com", account)
        )
        role = aws.iam.Role(
            f"{name}-flow-logs-role",
            assume_role_policy=trust,
            description="Lets VPC Flow Logs write to its own log group",
            tags={**tags, "Name": f"{name}-flow-logs-role"},
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs-write",
            role=role.id,
            policy=log_group.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                                "Resource": [arn, f"{arn}:*"],
                            }
                        ],
                    }
                )
            ),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags={**tags, "Name": f"{name}-flow-log"},
            opts=child,
        )
        self.flow_log_group_name = log_group.name
