"""Security-group rules and private DNS names, written one way: one rule per resource (never inline lists, which
a later `up` after a refresh would fight), one private zone per VPC."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import pulumi
import pulumi_aws as aws


def allow_tcp(
    name: str,
    *,
    security_group_id: pulumi.Input[str],
    port: int,
    description: str,
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
    cidr: str | None = None,
    peer_group_id: pulumi.Input[str] | None = None,
    direction: Literal["ingress", "egress"] = "ingress",
) -> pulumi.CustomResource:
    """One TCP port to or from a CIDR or another security group."""
    if (cidr is None) == (peer_group_id is None):
        raise ValueError(f"{name}: name exactly one of cidr or peer_group_id")
    rule = aws.vpc.SecurityGroupIngressRule if direction == "ingress" else aws.vpc.SecurityGroupEgressRule
    return rule(
        name,
        security_group_id=security_group_id,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        cidr_ipv4=cidr,
        referenced_security_group_id=peer_group_id,
        description=description,
        tags=dict(tags),
        opts=opts,
    )


def private_zone(
    name: str,
    *,
    zone: str,
    vpc_id: pulumi.Input[str],
    region: str,
    comment: str,
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.route53.Zone:
    """A private hosted zone answering inside one VPC."""
    return aws.route53.Zone(
        name,
        name=zone,
        comment=comment,
        vpcs=[aws.route53.ZoneVpcArgs(vpc_id=vpc_id, vpc_region=region)],
        tags=dict(tags),
        opts=opts,
    )


def alias_record(
    name: str,
    *,
    zone_id: pulumi.Input[str],
    host: str,
    load_balancer: aws.lb.LoadBalancer,
    opts: pulumi.ResourceOptions,
    latency_region: str | None = None,
    health_check_id: pulumi.Input[str] | None = None,
) -> aws.route53.Record:
    """`host` as an A alias of a load balancer, following its health; with `latency_region`, this region's entry
    of a latency-routed name (its set identifier is the region)."""
    return aws.route53.Record(
        name,
        zone_id=zone_id,
        name=host,
        type="A",
        set_identifier=latency_region,
        latency_routing_policies=(
            [aws.route53.RecordLatencyRoutingPolicyArgs(region=latency_region)] if latency_region else None
        ),
        health_check_id=health_check_id,
        aliases=[
            aws.route53.RecordAliasArgs(
                name=load_balancer.dns_name, zone_id=load_balancer.zone_id, evaluate_target_health=True
            )
        ],
        opts=opts,
    )
