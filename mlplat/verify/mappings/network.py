"""EC2 networking: VPC, subnets, gateways, routes, security groups, endpoints, flow logs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mlplat.verify.mappings.base import (
    MAPPINGS,
    ON_DELETE,
    Create,
    Emulation,
    Outputs,
    Read,
    ec2_tags,
    emulation,
    first,
    tag_list,
)
from mlplat.verify.step import Refused, Step


def _read_vpc(step: Step, out: Outputs) -> None:
    vpc = first(step.call("ec2", "DescribeVpcs", VpcIds=[out["id"]])["Vpcs"], "ec2:DescribeVpcs")
    step.expect("cidrBlock", step.inputs.get("cidrBlock"), vpc["CidrBlock"])
    for attribute in ("enableDnsHostnames", "enableDnsSupport"):
        if attribute in step.inputs:
            answer = step.call("ec2", "DescribeVpcAttribute", VpcId=out["id"], Attribute=attribute)
            step.expect(attribute, step.inputs[attribute], answer[attribute[0].upper() + attribute[1:]]["Value"])
    step.expect_tags(vpc.get("Tags"))


@emulation("aws:ec2/vpc:Vpc", _read_vpc)
def _vpc(step: Step) -> Outputs:
    vpc = step.call("ec2", "CreateVpc", CidrBlock=step.get("cidrBlock"), TagSpecifications=ec2_tags(step, "vpc"))["Vpc"]
    for attribute in ("enableDnsSupport", "enableDnsHostnames"):
        if attribute in step.inputs:
            value = {"Value": bool(step.get(attribute))}
            step.call("ec2", "ModifyVpcAttribute", VpcId=vpc["VpcId"], **{attribute[0].upper() + attribute[1:]: value})
    return {"id": vpc["VpcId"], "arn": f"arn:aws:ec2:{step.region}:{vpc['OwnerId']}:vpc/{vpc['VpcId']}"}


def _read_subnet(step: Step, out: Outputs) -> None:
    subnet = first(step.call("ec2", "DescribeSubnets", SubnetIds=[out["id"]])["Subnets"], "ec2:DescribeSubnets")
    step.expect("cidrBlock", step.inputs.get("cidrBlock"), subnet["CidrBlock"])
    step.expect("availabilityZone", step.inputs.get("availabilityZone"), subnet["AvailabilityZone"])
    step.expect("vpcId", step.inputs.get("vpcId"), subnet["VpcId"])
    step.expect("mapPublicIpOnLaunch", step.inputs.get("mapPublicIpOnLaunch", False), subnet["MapPublicIpOnLaunch"])
    step.expect_tags(subnet.get("Tags"))


@emulation("aws:ec2/subnet:Subnet", _read_subnet)
def _subnet(step: Step) -> Outputs:
    params = step.params("ec2", "CreateSubnet", ["vpcId", "cidrBlock", "availabilityZone"])
    subnet = step.call("ec2", "CreateSubnet", **params, TagSpecifications=ec2_tags(step, "subnet"))["Subnet"]
    if step.get("mapPublicIpOnLaunch"):
        step.call("ec2", "ModifySubnetAttribute", SubnetId=subnet["SubnetId"], MapPublicIpOnLaunch={"Value": True})
    return {"id": subnet["SubnetId"], "arn": subnet.get("SubnetArn")}


def _read_igw(step: Step, out: Outputs) -> None:
    igw = first(
        step.call("ec2", "DescribeInternetGateways", InternetGatewayIds=[out["id"]])["InternetGateways"],
        "ec2:DescribeInternetGateways",
    )
    step.expect("vpcId", step.inputs.get("vpcId"), [a["VpcId"] for a in igw.get("Attachments", [])])
    step.expect_tags(igw.get("Tags"))


@emulation("aws:ec2/internetGateway:InternetGateway", _read_igw)
def _igw(step: Step) -> Outputs:
    igw = step.call("ec2", "CreateInternetGateway", TagSpecifications=ec2_tags(step, "internet-gateway"))
    igw_id = igw["InternetGateway"]["InternetGatewayId"]
    if step.inputs.get("vpcId"):
        step.call("ec2", "AttachInternetGateway", InternetGatewayId=igw_id, VpcId=step.get("vpcId"))
    return {"id": igw_id}


def _read_eip(step: Step, out: Outputs) -> None:
    address = first(
        step.call("ec2", "DescribeAddresses", AllocationIds=[out["id"]])["Addresses"], "ec2:DescribeAddresses"
    )
    step.expect("domain", step.inputs.get("domain"), address.get("Domain"))
    step.expect_tags(address.get("Tags"))


@emulation("aws:ec2/eip:Eip", _read_eip)
def _eip(step: Step) -> Outputs:
    address = step.call(
        "ec2", "AllocateAddress", Domain=step.get("domain", "vpc"), TagSpecifications=ec2_tags(step, "elastic-ip")
    )
    return {"id": address["AllocationId"], "allocationId": address["AllocationId"], "publicIp": address["PublicIp"]}


def _read_nat(step: Step, out: Outputs) -> None:
    nat = first(
        step.call("ec2", "DescribeNatGateways", NatGatewayIds=[out["id"]])["NatGateways"], "ec2:DescribeNatGateways"
    )
    step.expect("subnetId", step.inputs.get("subnetId"), nat["SubnetId"])
    step.expect(
        "allocationId", step.inputs.get("allocationId"), [a.get("AllocationId") for a in nat["NatGatewayAddresses"]]
    )
    step.expect_tags(nat.get("Tags"))


@emulation("aws:ec2/natGateway:NatGateway", _read_nat)
def _nat(step: Step) -> Outputs:
    params = step.params("ec2", "CreateNatGateway", ["subnetId", "allocationId", "connectivityType"])
    nat = step.call("ec2", "CreateNatGateway", **params, TagSpecifications=ec2_tags(step, "natgateway"))["NatGateway"]
    return {"id": nat["NatGatewayId"]}


def _route(route: Mapping[str, Any]) -> dict[str, Any]:
    names = {
        "cidrBlock": "DestinationCidrBlock",
        "ipv6CidrBlock": "DestinationIpv6CidrBlock",
        "vpcEndpointId": "VpcEndpointId",
    }
    return {names.get(k, k[0].upper() + k[1:]): v for k, v in route.items() if v not in (None, "")}


def _read_route_table(step: Step, out: Outputs) -> None:
    table = first(
        step.call("ec2", "DescribeRouteTables", RouteTableIds=[out["id"]])["RouteTables"], "ec2:DescribeRouteTables"
    )
    step.expect("vpcId", step.inputs.get("vpcId"), table["VpcId"])
    step.expect("routes", [_route(r) for r in step.inputs.get("routes") or []], table.get("Routes", []))
    step.expect_tags(table.get("Tags"))


@emulation("aws:ec2/routeTable:RouteTable", _read_route_table)
def _route_table(step: Step) -> Outputs:
    table = step.call(
        "ec2", "CreateRouteTable", VpcId=step.get("vpcId"), TagSpecifications=ec2_tags(step, "route-table")
    )
    table_id = table["RouteTable"]["RouteTableId"]
    for route in step.get("routes") or []:
        step.call("ec2", "CreateRoute", RouteTableId=table_id, **_route(route))
    return {"id": table_id}


def _read_association(step: Step, out: Outputs) -> None:
    tables = step.call("ec2", "DescribeRouteTables", RouteTableIds=[step.inputs["routeTableId"]])["RouteTables"]
    subnets = [a.get("SubnetId") for t in tables for a in t.get("Associations", [])]
    step.expect("subnetId", step.inputs.get("subnetId"), subnets)


@emulation("aws:ec2/routeTableAssociation:RouteTableAssociation", _read_association)
def _association(step: Step) -> Outputs:
    params = step.params("ec2", "AssociateRouteTable", ["routeTableId", "subnetId", "gatewayId"])
    return {"id": step.call("ec2", "AssociateRouteTable", **params)["AssociationId"]}


def _permissions(rules: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Inline `ingress`/`egress` blocks as EC2 `IpPermissions`."""
    permissions = []
    for rule in rules:
        permission: dict[str, Any] = {"IpProtocol": str(rule.get("protocol", "-1"))}
        if permission["IpProtocol"] not in ("-1", "all"):
            permission.update(FromPort=int(rule.get("fromPort", 0)), ToPort=int(rule.get("toPort", 0)))
        description = {"Description": rule["description"]} if rule.get("description") else {}
        if rule.get("cidrBlocks"):
            permission["IpRanges"] = [{"CidrIp": c, **description} for c in rule["cidrBlocks"]]
        if rule.get("ipv6CidrBlocks"):
            permission["Ipv6Ranges"] = [{"CidrIpv6": c, **description} for c in rule["ipv6CidrBlocks"]]
        groups = list(rule.get("securityGroups") or []) + ([] if not rule.get("self") else ["self"])
        if groups:
            permission["UserIdGroupPairs"] = [{"GroupId": g, **description} for g in groups]
        if rule.get("prefixListIds"):
            permission["PrefixListIds"] = [{"PrefixListId": p, **description} for p in rule["prefixListIds"]]
        permissions.append(permission)
    return permissions


def _read_security_group(step: Step, out: Outputs) -> None:
    group = first(
        step.call("ec2", "DescribeSecurityGroups", GroupIds=[out["id"]])["SecurityGroups"], "ec2:DescribeSecurityGroups"
    )
    step.expect("vpcId", step.inputs.get("vpcId"), group.get("VpcId"))
    if "description" in step.inputs:
        step.expect("description", step.inputs["description"], group.get("Description"))
    for key, observed in (
        ("ingress", group.get("IpPermissions", [])),
        ("egress", group.get("IpPermissionsEgress", [])),
    ):
        declared = _permissions(step.inputs.get(key) or [])
        step.expect(key, declared, observed)
        if key in step.inputs and len(observed) > len(declared):
            step.differences.append(f"{key}: {len(observed) - len(declared)} rule(s) read back that were not declared")
    step.expect_tags(group.get("Tags"))


@emulation("aws:ec2/securityGroup:SecurityGroup", _read_security_group, revokeRulesOnDelete=ON_DELETE)
def _security_group(step: Step) -> Outputs:
    group = step.call(
        "ec2",
        "CreateSecurityGroup",
        GroupName=step.get("name") or step.name,
        Description=step.get("description", "Managed by Pulumi"),
        VpcId=step.get("vpcId"),
        TagSpecifications=ec2_tags(step, "security-group"),
    )
    group_id = group["GroupId"]
    if step.get("ingress"):
        step.call(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            GroupId=group_id,
            IpPermissions=_self(_permissions(step.inputs["ingress"]), group_id),
        )
    # The provider removes AWS's default allow-all egress rule from every VPC group it creates; only declared
    # egress (inline or as SecurityGroupEgressRule resources) remains.
    step.call(
        "ec2",
        "RevokeSecurityGroupEgress",
        GroupId=group_id,
        IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    if step.get("egress"):
        step.call(
            "ec2",
            "AuthorizeSecurityGroupEgress",
            GroupId=group_id,
            IpPermissions=_self(_permissions(step.inputs["egress"]), group_id),
        )
    return {"id": group_id, "arn": f"arn:aws:ec2:{step.region}::security-group/{group_id}"}


def _self(permissions: list[dict[str, Any]], group_id: str) -> list[dict[str, Any]]:
    for permission in permissions:
        for pair in permission.get("UserIdGroupPairs", []):
            if pair["GroupId"] == "self":
                pair["GroupId"] = group_id
    return permissions


def _read_default_sg(step: Step, out: Outputs) -> None:
    group = first(
        step.call("ec2", "DescribeSecurityGroups", GroupIds=[out["id"]])["SecurityGroups"], "ec2:DescribeSecurityGroups"
    )
    for key, observed in (
        ("ingress", group.get("IpPermissions", [])),
        ("egress", group.get("IpPermissionsEgress", [])),
    ):
        declared = _permissions(step.inputs.get(key) or [])
        if len(observed) != len(declared):
            step.differences.append(f"{key}: declared {len(declared)} rule(s), read back {len(observed)}")
    step.expect_tags(group.get("Tags"))


@emulation("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", _read_default_sg)
def _default_sg(step: Step) -> Outputs:
    """The provider adopts the VPC's default group and makes its rules exactly the declared ones."""
    groups = step.call(
        "ec2",
        "DescribeSecurityGroups",
        Filters=[{"Name": "vpc-id", "Values": [step.get("vpcId")]}, {"Name": "group-name", "Values": ["default"]}],
    )["SecurityGroups"]
    group = first(groups, "ec2:DescribeSecurityGroups")
    group_id = group["GroupId"]
    if group.get("IpPermissions"):
        step.call("ec2", "RevokeSecurityGroupIngress", GroupId=group_id, IpPermissions=group["IpPermissions"])
    if group.get("IpPermissionsEgress"):
        step.call("ec2", "RevokeSecurityGroupEgress", GroupId=group_id, IpPermissions=group["IpPermissionsEgress"])
    if step.get("ingress"):
        step.call(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            GroupId=group_id,
            IpPermissions=_self(_permissions(step.inputs["ingress"]), group_id),
        )
    if step.get("egress"):
        step.call(
            "ec2",
            "AuthorizeSecurityGroupEgress",
            GroupId=group_id,
            IpPermissions=_self(_permissions(step.inputs["egress"]), group_id),
        )
    tags = tag_list(step)
    if tags:
        step.call("ec2", "CreateTags", Resources=[group_id], Tags=tags)
    return {"id": group_id}


def _sg_rule_permission(step: Step) -> dict[str, Any]:
    permission: dict[str, Any] = {"IpProtocol": str(step.get("ipProtocol"))}
    if permission["IpProtocol"] != "-1":
        permission.update(FromPort=int(step.get("fromPort")), ToPort=int(step.get("toPort")))
    description = {"Description": step.get("description")} if step.inputs.get("description") else {}
    if step.get("cidrIpv4"):
        permission["IpRanges"] = [{"CidrIp": step.inputs["cidrIpv4"], **description}]
    if step.get("cidrIpv6"):
        permission["Ipv6Ranges"] = [{"CidrIpv6": step.inputs["cidrIpv6"], **description}]
    if step.get("referencedSecurityGroupId"):
        permission["UserIdGroupPairs"] = [{"GroupId": step.inputs["referencedSecurityGroupId"], **description}]
    if step.get("prefixListId"):
        permission["PrefixListIds"] = [{"PrefixListId": step.inputs["prefixListId"], **description}]
    return permission


def _sg_rule(direction: str) -> tuple[Create, Read]:
    def create(step: Step) -> Outputs:
        group_id = step.get("securityGroupId")
        answer = step.call(
            "ec2",
            f"AuthorizeSecurityGroup{direction}",
            GroupId=group_id,
            IpPermissions=[_sg_rule_permission(step)],
            TagSpecifications=ec2_tags(step, "security-group-rule"),
        )
        rules = answer.get("SecurityGroupRules") or [{}]
        return {"id": rules[0].get("SecurityGroupRuleId"), "group": group_id}

    def read(step: Step, out: Outputs) -> None:
        group = first(
            step.call("ec2", "DescribeSecurityGroups", GroupIds=[out["group"]])["SecurityGroups"],
            "ec2:DescribeSecurityGroups",
        )
        observed = group.get("IpPermissions" if direction == "Ingress" else "IpPermissionsEgress", [])
        step.expect(direction.lower(), [_sg_rule_permission(step)], observed)

    return create, read


for _direction, _type in (
    ("Ingress", "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"),
    ("Egress", "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"),
):
    _create, _read = _sg_rule(_direction)
    MAPPINGS[_type] = Emulation(_create, _read)


def _read_endpoint(step: Step, out: Outputs) -> None:
    endpoint = first(
        step.call("ec2", "DescribeVpcEndpoints", VpcEndpointIds=[out["id"]])["VpcEndpoints"], "ec2:DescribeVpcEndpoints"
    )
    expected = step.params_from(
        "ec2",
        "CreateVpcEndpoint",
        {
            k: v
            for k, v in step.inputs.items()
            if k
            in ("vpcId", "serviceName", "vpcEndpointType", "subnetIds", "routeTableIds", "privateDnsEnabled", "policy")
        },
    )
    expected.pop("SecurityGroupIds", None)
    step.expect("endpoint", expected, endpoint)
    groups = [g["GroupId"] for g in endpoint.get("Groups", [])]
    step.expect("securityGroupIds", step.inputs.get("securityGroupIds") or [], groups)
    step.expect_tags(endpoint.get("Tags"))


@emulation("aws:ec2/vpcEndpoint:VpcEndpoint", _read_endpoint, autoAccept="acts on cross-account endpoint services only")
def _endpoint(step: Step) -> Outputs:
    params = step.params(
        "ec2", "CreateVpcEndpoint", exclude=("tags", "autoAccept"), renames={"policy": "PolicyDocument"}
    )
    endpoint = step.call("ec2", "CreateVpcEndpoint", **params, TagSpecifications=ec2_tags(step, "vpc-endpoint"))[
        "VpcEndpoint"
    ]
    return {"id": endpoint["VpcEndpointId"]}


def _read_flow_log(step: Step, out: Outputs) -> None:
    log = first(step.call("ec2", "DescribeFlowLogs", FlowLogIds=[out["id"]])["FlowLogs"], "ec2:DescribeFlowLogs")
    step.expect("trafficType", step.inputs.get("trafficType"), log.get("TrafficType"))
    step.expect("logDestinationType", step.inputs.get("logDestinationType"), log.get("LogDestinationType"))
    step.expect("iamRoleArn", step.inputs.get("iamRoleArn"), log.get("DeliverLogsPermissionArn"))
    step.expect("maxAggregationInterval", step.inputs.get("maxAggregationInterval"), log.get("MaxAggregationInterval"))


@emulation("aws:ec2/flowLog:FlowLog", _read_flow_log)
def _flow_log(step: Step) -> Outputs:
    resource_id, resource_type = next(
        (
            (step.get(k), t)
            for k, t in (("vpcId", "VPC"), ("subnetId", "Subnet"), ("eniId", "NetworkInterface"))
            if step.inputs.get(k)
        ),
        (None, "VPC"),
    )
    params = step.params(
        "ec2",
        "CreateFlowLogs",
        ["trafficType", "logDestinationType", "logDestination", "maxAggregationInterval", "logFormat"],
    )
    answer = step.call(
        "ec2",
        "CreateFlowLogs",
        ResourceIds=[resource_id],
        ResourceType=resource_type,
        DeliverLogsPermissionArn=step.get("iamRoleArn"),
        TagSpecifications=ec2_tags(step, "vpc-flow-log"),
        **params,
    )
    if answer.get("Unsuccessful"):
        raise Refused("ec2:CreateFlowLogs", json.dumps(answer["Unsuccessful"]))
    return {"id": answer["FlowLogIds"][0]}
