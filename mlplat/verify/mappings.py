"""Per resource type: the AWS API calls that create it (parameters shaped by botocore's model from the Pulumi
inputs), the calls that read it back, and what is compared. Inputs with no API counterpart are named once, here."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlplat.verify.catalogue import check_engine_version
from mlplat.verify.policy_documents import check_resource_policy
from mlplat.verify.step import Refused, Step

Outputs = dict[str, Any]
Create = Callable[[Step], Outputs]
Read = Callable[[Step, Outputs], None]

# Inputs only the provider acts on, never a create parameter.
ON_DELETE = "acted on by the provider at deletion; no create API takes it"
ON_UPDATE = "acted on by the provider when updating (a modify call); no create API takes it"


@dataclass(frozen=True)
class Emulation:
    create: Create
    read: Read
    provider_only: Mapping[str, str] = field(default_factory=dict)  # Pulumi input -> why no API call takes it


MAPPINGS: dict[str, Emulation] = {}


def emulation(type_token: str, read: Read, **provider_only: str) -> Callable[[Create], Create]:
    def register(create: Create) -> Create:
        MAPPINGS[type_token] = Emulation(create, read, provider_only)
        return create

    return register


def ec2_tags(step: Step, resource_type: str) -> list[dict[str, Any]]:
    tags = step.get("tags") or {}
    return (
        [{"ResourceType": resource_type, "Tags": [{"Key": k, "Value": str(v)} for k, v in tags.items()]}]
        if tags
        else []
    )


def tag_list(step: Step, key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [{key: k, value: str(v)} for k, v in (step.get("tags") or {}).items()]


def _first(items: list[Any], what: str) -> Any:
    if not items:
        raise Refused(what, "read back nothing")
    return items[0]


def _policy(document: Any) -> Any:
    return json.loads(document) if isinstance(document, str) else document


# -- EC2: network ------------------------------------------------------------------------------------------------


def _read_vpc(step: Step, out: Outputs) -> None:
    vpc = _first(step.call("ec2", "DescribeVpcs", VpcIds=[out["id"]])["Vpcs"], "ec2:DescribeVpcs")
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
    subnet = _first(step.call("ec2", "DescribeSubnets", SubnetIds=[out["id"]])["Subnets"], "ec2:DescribeSubnets")
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
    igw = _first(
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
    address = _first(
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
    nat = _first(
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
    table = _first(
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
    group = _first(
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
    group = _first(
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
    group = _first(groups, "ec2:DescribeSecurityGroups")
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
        group = _first(
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
    endpoint = _first(
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
    log = _first(step.call("ec2", "DescribeFlowLogs", FlowLogIds=[out["id"]])["FlowLogs"], "ec2:DescribeFlowLogs")
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


# -- EC2: compute ------------------------------------------------------------------------------------------------

LAUNCH_TEMPLATE_DATA = (
    "blockDeviceMappings",
    "iamInstanceProfile",
    "imageId",
    "instanceType",
    "metadataOptions",
    "monitoring",
    "tagSpecifications",
    "userData",
    "vpcSecurityGroupIds",
    "keyName",
    "networkInterfaces",
    "ebsOptimized",
)


def _launch_template_data(step: Step) -> dict[str, Any]:
    values = {k: step.get(k) for k in LAUNCH_TEMPLATE_DATA if step.inputs.get(k) is not None}
    if "vpcSecurityGroupIds" in values:
        values["securityGroupIds"] = values.pop("vpcSecurityGroupIds")
    shaped = step.params_from("ec2", "CreateLaunchTemplate", {"LaunchTemplateData": values})
    data: dict[str, Any] = shaped.get("LaunchTemplateData", {})
    return data


def _read_launch_template(step: Step, out: Outputs) -> None:
    versions = step.call("ec2", "DescribeLaunchTemplateVersions", LaunchTemplateId=out["id"], Versions=["$Latest"])
    version = _first(versions["LaunchTemplateVersions"], "ec2:DescribeLaunchTemplateVersions")
    step.expect("launchTemplateData", out["data"], version["LaunchTemplateData"])


@emulation(
    "aws:ec2/launchTemplate:LaunchTemplate",
    _read_launch_template,
    updateDefaultVersion="the provider calls ModifyLaunchTemplate after each new version; the first is the default",
)
def _launch_template(step: Step) -> Outputs:
    data = _launch_template_data(step)
    step.get("updateDefaultVersion")
    template = step.call(
        "ec2",
        "CreateLaunchTemplate",
        LaunchTemplateName=step.get("name") or step.name,
        LaunchTemplateData=data,
        **({"VersionDescription": step.get("description")} if step.inputs.get("description") else {}),
        TagSpecifications=ec2_tags(step, "launch-template"),
    )["LaunchTemplate"]
    return {"id": template["LaunchTemplateId"], "latestVersion": template["LatestVersionNumber"], "data": data}


def _instance_types(step: Step, types: list[str]) -> None:
    """EC2's own catalogue decides whether an instance type exists (DescribeInstanceTypes refuses an unknown one);
    a type the region does not offer (DescribeInstanceTypeOfferings) is accepted by the API but never launches,
    so it is a warning."""
    if not types:
        return
    wanted = sorted(set(types))
    step.call("ec2", "DescribeInstanceTypes", InstanceTypes=wanted)
    offerings = step.call(
        "ec2",
        "DescribeInstanceTypeOfferings",
        LocationType="region",
        Filters=[{"Name": "instance-type", "Values": wanted}],
    )["InstanceTypeOfferings"]
    missing = sorted(set(wanted) - {o["InstanceType"] for o in offerings})
    if missing:
        step.warnings.append(f"{step.region} offers no {', '.join(missing)} (ec2:DescribeInstanceTypeOfferings)")


def _read_asg(step: Step, out: Outputs) -> None:
    groups = step.call("autoscaling", "DescribeAutoScalingGroups", AutoScalingGroupNames=[out["name"]])[
        "AutoScalingGroups"
    ]
    group = _first(groups, "autoscaling:DescribeAutoScalingGroups")
    declared = dict(out["params"])
    declared.pop("VPCZoneIdentifier", None)
    declared.pop("LifecycleHookSpecificationList", None)
    declared.pop("Tags", None)
    step.expect("group", declared, group, unmodelled=("DefaultInstanceWarmup",))
    step.expect(
        "subnets",
        sorted(out["params"].get("VPCZoneIdentifier", "").split(",")),
        sorted(group.get("VPCZoneIdentifier", "").split(",")),
    )
    observed_tags = {t["Key"]: (t["Value"], t.get("PropagateAtLaunch")) for t in group.get("Tags", [])}
    for tag in out["params"].get("Tags", []):
        if observed_tags.get(tag["Key"]) != (tag["Value"], tag.get("PropagateAtLaunch")):
            step.differences.append(f"tags.{tag['Key']}: declared {tag}, read back {observed_tags.get(tag['Key'])}")
    hooks = step.call("autoscaling", "DescribeLifecycleHooks", AutoScalingGroupName=out["name"])["LifecycleHooks"]
    # moto keeps no hook given at creation (only PutLifecycleHook's); a hook it does answer is compared
    step.expect("initialLifecycleHooks", out["params"].get("LifecycleHookSpecificationList", []), hooks, modelled=False)


@emulation(
    "aws:autoscaling/group:Group",
    _read_asg,
    waitForCapacityTimeout="the provider's own wait for instances; no API counterpart",
    forceDelete=ON_DELETE,
)
def _asg(step: Step) -> Outputs:
    name = step.get("name") or step.name
    params = step.params(
        "autoscaling",
        "CreateAutoScalingGroup",
        exclude=("tags", "vpcZoneIdentifiers", "enabledMetrics", "initialLifecycleHooks", "metricsGranularity", "name"),
    )
    params["VPCZoneIdentifier"] = ",".join(step.get("vpcZoneIdentifiers") or [])
    declared_hooks = [
        {("lifecycleHookName" if k == "name" else k): v for k, v in h.items()}
        for h in step.get("initialLifecycleHooks") or []
    ]
    hooks = step.params_from(
        "autoscaling", "CreateAutoScalingGroup", {"LifecycleHookSpecificationList": declared_hooks}
    )
    if hooks.get("LifecycleHookSpecificationList"):
        params.update(hooks)
    params["Tags"] = [
        {
            "Key": t["key"],
            "Value": str(t["value"]),
            "PropagateAtLaunch": bool(t.get("propagateAtLaunch")),
            "ResourceId": name,
            "ResourceType": "auto-scaling-group",
        }
        for t in step.get("tags") or []
    ]
    overrides = ((params.get("MixedInstancesPolicy") or {}).get("LaunchTemplate") or {}).get("Overrides") or []
    _instance_types(step, [o["InstanceType"] for o in overrides if o.get("InstanceType")])
    step.call("autoscaling", "CreateAutoScalingGroup", AutoScalingGroupName=name, **params)
    if step.get("enabledMetrics"):
        step.call(
            "autoscaling",
            "EnableMetricsCollection",
            AutoScalingGroupName=name,
            Metrics=list(step.inputs["enabledMetrics"]),
            Granularity=step.get("metricsGranularity", "1Minute"),
        )
    return {"id": name, "name": name, "arn": None, "params": params}


# -- IAM -------------------------------------------------------------------------------------------------------


def _role_name(step: Step, key: str = "role") -> str:
    value = str(step.get(key))
    return value.rsplit("/", 1)[-1] if value.startswith("arn:") else value


def _read_role(step: Step, out: Outputs) -> None:
    role = step.call("iam", "GetRole", RoleName=out["name"])["Role"]
    step.expect("assumeRolePolicy", _policy(step.inputs.get("assumeRolePolicy")), role["AssumeRolePolicyDocument"])
    if step.inputs.get("description"):
        step.expect("description", step.inputs["description"], role.get("Description"))
    if step.inputs.get("maxSessionDuration"):
        step.expect("maxSessionDuration", step.inputs["maxSessionDuration"], role.get("MaxSessionDuration"))
    step.expect_tags(role.get("Tags"))


@emulation("aws:iam/role:Role", _read_role, forceDetachPolicies=ON_DELETE)
def _role(step: Step) -> Outputs:
    name = step.get("name") or step.name
    params = step.params(
        "iam",
        "CreateRole",
        ["assumeRolePolicy", "description", "maxSessionDuration", "path", "permissionsBoundary"],
        renames={"assumeRolePolicy": "AssumeRolePolicyDocument"},
    )
    role = step.call("iam", "CreateRole", RoleName=name, Tags=tag_list(step), **params)["Role"]
    return {"id": name, "name": name, "arn": role["Arn"]}


def _read_role_policy(step: Step, out: Outputs) -> None:
    policy = step.call("iam", "GetRolePolicy", RoleName=out["role"], PolicyName=out["name"])
    step.expect("policy", _policy(step.inputs.get("policy")), policy["PolicyDocument"])


@emulation("aws:iam/rolePolicy:RolePolicy", _read_role_policy)
def _role_policy(step: Step) -> Outputs:
    role, name = _role_name(step), step.get("name") or step.name
    step.call("iam", "PutRolePolicy", RoleName=role, PolicyName=name, PolicyDocument=step.get("policy"))
    return {"id": f"{role}:{name}", "role": role, "name": name}


def _read_attachment(step: Step, out: Outputs) -> None:
    attached = step.call("iam", "ListAttachedRolePolicies", RoleName=out["role"])["AttachedPolicies"]
    step.expect("policyArn", step.inputs.get("policyArn"), [p["PolicyArn"] for p in attached])


@emulation("aws:iam/rolePolicyAttachment:RolePolicyAttachment", _read_attachment)
def _attachment(step: Step) -> Outputs:
    role = _role_name(step)
    step.call("iam", "AttachRolePolicy", RoleName=role, PolicyArn=step.get("policyArn"))
    return {"id": f"{role}-{step.inputs['policyArn']}", "role": role}


def _read_profile(step: Step, out: Outputs) -> None:
    profile = step.call("iam", "GetInstanceProfile", InstanceProfileName=out["name"])["InstanceProfile"]
    step.expect("role", step.inputs.get("role"), [r["RoleName"] for r in profile.get("Roles", [])])
    step.expect_tags(profile.get("Tags"))


@emulation("aws:iam/instanceProfile:InstanceProfile", _read_profile)
def _profile(step: Step) -> Outputs:
    name = step.get("name") or step.name
    profile = step.call(
        "iam",
        "CreateInstanceProfile",
        InstanceProfileName=name,
        Tags=tag_list(step),
        **step.params("iam", "CreateInstanceProfile", ["path"]),
    )
    if step.inputs.get("role"):
        step.call("iam", "AddRoleToInstanceProfile", InstanceProfileName=name, RoleName=_role_name(step))
    return {"id": name, "name": name, "arn": profile["InstanceProfile"]["Arn"]}


def _read_oidc(step: Step, out: Outputs) -> None:
    provider = step.call("iam", "GetOpenIDConnectProvider", OpenIDConnectProviderArn=out["arn"])
    step.expect(
        "url",
        str(step.inputs.get("url", "")).removeprefix("https://"),
        provider.get("Url", "").removeprefix("https://"),
    )
    step.expect("clientIdLists", step.inputs.get("clientIdLists"), provider.get("ClientIDList"))
    step.expect_tags(provider.get("Tags"))


@emulation("aws:iam/openIdConnectProvider:OpenIdConnectProvider", _read_oidc)
def _oidc(step: Step) -> Outputs:
    params = step.params(
        "iam",
        "CreateOpenIDConnectProvider",
        ["url", "clientIdLists", "thumbprintLists"],
        renames={"clientIdLists": "ClientIDList", "thumbprintLists": "ThumbprintList"},
    )
    arn = step.call("iam", "CreateOpenIDConnectProvider", Tags=tag_list(step), **params)["OpenIDConnectProviderArn"]
    return {"id": arn, "arn": arn}


# -- KMS -------------------------------------------------------------------------------------------------------


def _read_key(step: Step, out: Outputs) -> None:
    key = step.call("kms", "DescribeKey", KeyId=out["keyId"])["KeyMetadata"]
    step.expect("multiRegion", bool(step.inputs.get("multiRegion", False)), key.get("MultiRegion", False))
    if step.inputs.get("description"):
        step.expect("description", step.inputs["description"], key.get("Description"))
    rotation = step.call("kms", "GetKeyRotationStatus", KeyId=out["keyId"])
    step.expect("enableKeyRotation", bool(step.inputs.get("enableKeyRotation", False)), rotation["KeyRotationEnabled"])
    if step.inputs.get("rotationPeriodInDays") and "RotationPeriodInDays" in rotation:
        step.expect("rotationPeriodInDays", step.inputs["rotationPeriodInDays"], rotation["RotationPeriodInDays"])
    if step.inputs.get("policy"):
        policy = step.call("kms", "GetKeyPolicy", KeyId=out["keyId"], PolicyName="default")["Policy"]
        step.expect("policy", _policy(step.inputs["policy"]), policy)
    tags = step.call("kms", "ListResourceTags", KeyId=out["keyId"]).get("Tags", [])
    step.expect_tags(tags)


@emulation(
    "aws:kms/key:Key",
    _read_key,
    deletionWindowInDays="a ScheduleKeyDeletion parameter, used when the key is destroyed",
    bypassPolicyLockoutSafetyCheck="a safety switch of the provider's PutKeyPolicy",
)
def _key(step: Step) -> Outputs:
    step.get("deletionWindowInDays")
    params = step.params(
        "kms",
        "CreateKey",
        ["description", "policy", "multiRegion", "keyUsage", "customerMasterKeySpec", "customMasterKeySpec"],
        renames={"customerMasterKeySpec": "KeySpec", "customMasterKeySpec": "KeySpec"},
    )
    if "Policy" in params:
        check_resource_policy("kms:CreateKey", "MalformedPolicyDocumentException", str(params["Policy"]))
    key = step.call("kms", "CreateKey", Tags=tag_list(step, "TagKey", "TagValue"), **params)["KeyMetadata"]
    if step.get("enableKeyRotation"):
        rotation = (
            {"RotationPeriodInDays": int(step.get("rotationPeriodInDays"))}
            if step.inputs.get("rotationPeriodInDays")
            else {}
        )
        step.call("kms", "EnableKeyRotation", KeyId=key["KeyId"], **rotation)
    return {"id": key["KeyId"], "keyId": key["KeyId"], "arn": key["Arn"]}


def _read_alias(step: Step, out: Outputs) -> None:
    aliases = step.call("kms", "ListAliases", KeyId=step.inputs["targetKeyId"])["Aliases"]
    step.expect("name", step.inputs.get("name"), [a["AliasName"] for a in aliases])


@emulation("aws:kms/alias:Alias", _read_alias)
def _alias(step: Step) -> Outputs:
    name = step.get("name") or f"alias/{step.name}"
    step.call("kms", "CreateAlias", AliasName=name, TargetKeyId=step.get("targetKeyId"))
    return {"id": name, "name": name, "arn": f"arn:aws:kms:{step.region}:123456789012:{name}"}


# -- S3 ----------------------------------------------------------------------------------------------------------


def _bucket_name(step: Step) -> str:
    return str(step.get("bucket")).removeprefix("arn:aws:s3:::")


def _read_bucket(step: Step, out: Outputs) -> None:
    location = step.call("s3", "GetBucketLocation", Bucket=out["bucket"]).get("LocationConstraint") or "us-east-1"
    step.expect("region", step.region, location)
    if step.inputs.get("tags"):
        step.expect_tags(step.call("s3", "GetBucketTagging", Bucket=out["bucket"]).get("TagSet"))


@emulation(
    "aws:s3/bucket:Bucket",
    _read_bucket,
    forceDestroy="the provider empties the bucket before DeleteBucket; no API counterpart",
)
def _bucket(step: Step) -> Outputs:
    bucket = step.get("bucket") or step.name
    step.get("forceDestroy")
    location = {} if step.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": step.region}}
    step.call(
        "s3",
        "CreateBucket",
        Bucket=bucket,
        **location,
        **step.params(
            "s3", "CreateBucket", ["objectLockEnabled"], renames={"objectLockEnabled": "ObjectLockEnabledForBucket"}
        ),
    )
    if step.inputs.get("tags"):
        step.call("s3", "PutBucketTagging", Bucket=bucket, Tagging={"TagSet": tag_list(step)})
    return {"id": bucket, "bucket": bucket, "arn": f"arn:aws:s3:::{bucket}"}


def _bucket_setting(
    type_token: str,
    put: str,
    get: str,
    member: str,
    inputs_to_member: Callable[[Step], Any],
    strip: Callable[[Any], Any] | None = None,
    **provider_only: str,
) -> None:
    """A `Bucket<Setting>` resource: one Put call with one configuration member, read back with the matching Get."""

    def create(step: Step) -> Outputs:
        bucket = _bucket_name(step)
        configuration = inputs_to_member(step)
        step.call("s3", put, Bucket=bucket, **{member: configuration})
        return {"id": bucket, "bucket": bucket, "declared": configuration}

    def read(step: Step, out: Outputs) -> None:
        observed = step.call("s3", get, Bucket=out["bucket"])
        declared = out["declared"]
        answer = observed.get(member) if member in observed else observed  # some Get calls answer the members flat
        step.expect(member, strip(declared) if strip else declared, answer)

    MAPPINGS[type_token] = Emulation(create, read, provider_only)


def _shaped(operation: str, member: str, key: str, inner: str | None = None) -> Callable[[Step], Any]:
    """The configuration member from inputs: `{inner: inputs[key]}` (or `inputs[key]` itself) shaped by the model."""

    def build(step: Step) -> Any:
        value = step.get(key)
        shaped = step.params_from("s3", operation, {member: {inner: value} if inner else value})
        return shaped.get(member)

    return build


def _public_access_block(step: Step) -> Any:
    keys = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    return step.params_from("s3", "PutPublicAccessBlock", {"PublicAccessBlockConfiguration": step.take(*keys)})[
        "PublicAccessBlockConfiguration"
    ]


def _logging(step: Step) -> Any:
    enabled = step.take("targetBucket", "targetPrefix", "targetGrants", "targetObjectKeyFormat")
    return step.params_from("s3", "PutBucketLogging", {"BucketLoggingStatus": {"LoggingEnabled": enabled}})[
        "BucketLoggingStatus"
    ]


def _replication(step: Step) -> Any:
    values = {"role": step.get("role"), "rules": step.get("rules")}
    return step.params_from("s3", "PutBucketReplication", {"ReplicationConfiguration": values})[
        "ReplicationConfiguration"
    ]


def _policy_input(step: Step) -> Any:
    document = str(step.get("policy"))
    check_resource_policy("s3:PutBucketPolicy", "MalformedPolicy", document, bucket=_bucket_name(step))
    return document


_bucket_setting(
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "PutBucketEncryption",
    "GetBucketEncryption",
    "ServerSideEncryptionConfiguration",
    _shaped("PutBucketEncryption", "ServerSideEncryptionConfiguration", "rules", "rules"),
    expectedBucketOwner="a request guard, not configuration",
)
_bucket_setting(
    "aws:s3/bucketVersioning:BucketVersioning",
    "PutBucketVersioning",
    "GetBucketVersioning",
    "VersioningConfiguration",
    _shaped("PutBucketVersioning", "VersioningConfiguration", "versioningConfiguration"),
    mfa="the MFA device answer of one request",
)
_bucket_setting(
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "PutPublicAccessBlock",
    "GetPublicAccessBlock",
    "PublicAccessBlockConfiguration",
    _public_access_block,
)
_bucket_setting(
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "PutBucketOwnershipControls",
    "GetBucketOwnershipControls",
    "OwnershipControls",
    _shaped("PutBucketOwnershipControls", "OwnershipControls", "rule", "rules"),
)
_bucket_setting(
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "PutBucketLifecycleConfiguration",
    "GetBucketLifecycleConfiguration",
    "LifecycleConfiguration",
    _shaped("PutBucketLifecycleConfiguration", "LifecycleConfiguration", "rules", "rules"),
    transitionDefaultMinimumObjectSize="a header of the Put call the provider sets only when given",
)
_bucket_setting(
    "aws:s3/bucketLogging:BucketLogging", "PutBucketLogging", "GetBucketLogging", "BucketLoggingStatus", _logging
)


def _replication_as_moto_answers(configuration: Any) -> Any:
    """moto's GetBucketReplication answers ID, priority, status, destination and role as put, but a fixed
    `DeleteMarkerReplication: Disabled` and empty filter and no source selection (moto/s3/responses.py); those three
    are not compared."""
    rules = [
        {k: v for k, v in r.items() if k not in ("DeleteMarkerReplication", "Filter", "SourceSelectionCriteria")}
        for r in configuration.get("Rules", [])
    ]
    return {**configuration, "Rules": rules}


_bucket_setting(
    "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
    "PutBucketReplication",
    "GetBucketReplication",
    "ReplicationConfiguration",
    _replication,
    _replication_as_moto_answers,
    token="an Object Lock token of one request",
)
_bucket_setting("aws:s3/bucketPolicy:BucketPolicy", "PutBucketPolicy", "GetBucketPolicy", "Policy", _policy_input)


# -- SQS, EventBridge, CloudWatch Logs, Secrets Manager, Glue, AMP ----------------------------------------------

SQS_ATTRIBUTES = {
    "delaySeconds": "DelaySeconds",
    "maxMessageSize": "MaximumMessageSize",
    "messageRetentionSeconds": "MessageRetentionPeriod",
    "receiveWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds",
    "visibilityTimeoutSeconds": "VisibilityTimeout",
    "kmsMasterKeyId": "KmsMasterKeyId",
    "kmsDataKeyReusePeriodSeconds": "KmsDataKeyReusePeriodSeconds",
    "sqsManagedSseEnabled": "SqsManagedSseEnabled",
    "fifoQueue": "FifoQueue",
    "policy": "Policy",
    "redrivePolicy": "RedrivePolicy",
    "contentBasedDeduplication": "ContentBasedDeduplication",
}


def _read_queue(step: Step, out: Outputs) -> None:
    attributes = step.call("sqs", "GetQueueAttributes", QueueUrl=out["url"], AttributeNames=["All"])["Attributes"]
    step.expect("attributes", out["attributes"], attributes)
    step.expect_tags(step.call("sqs", "ListQueueTags", QueueUrl=out["url"]).get("Tags", {}))


@emulation("aws:sqs/queue:Queue", _read_queue)
def _queue(step: Step) -> Outputs:
    name = step.get("name") or step.name
    attributes = {
        api: str(step.get(key)).lower() if isinstance(step.inputs.get(key), bool) else str(step.get(key))
        for key, api in SQS_ATTRIBUTES.items()
        if step.inputs.get(key) is not None
    }
    url = step.call(
        "sqs",
        "CreateQueue",
        QueueName=name,
        Attributes=attributes,
        tags={k: str(v) for k, v in (step.get("tags") or {}).items()},
    )["QueueUrl"]
    return {
        "id": url,
        "url": url,
        "name": name,
        "arn": f"arn:aws:sqs:{step.region}:123456789012:{name}",
        "attributes": attributes,
    }


def _read_queue_policy(step: Step, out: Outputs) -> None:
    attributes = step.call("sqs", "GetQueueAttributes", QueueUrl=out["url"], AttributeNames=["Policy"]).get(
        "Attributes", {}
    )
    step.expect("policy", _policy(step.inputs.get("policy")), attributes.get("Policy"))


@emulation("aws:sqs/queuePolicy:QueuePolicy", _read_queue_policy)
def _queue_policy(step: Step) -> Outputs:
    url = step.get("queueUrl")
    check_resource_policy("sqs:SetQueueAttributes", "InvalidAttributeValue", str(step.inputs.get("policy")))
    step.call("sqs", "SetQueueAttributes", QueueUrl=url, Attributes={"Policy": step.get("policy")})
    return {"id": url, "url": url}


def _read_rule(step: Step, out: Outputs) -> None:
    rule = step.call("events", "DescribeRule", Name=out["name"], **out["bus"])
    step.expect("rule", out["params"], rule)
    step.expect_tags(step.call("events", "ListTagsForResource", ResourceARN=rule["Arn"]).get("Tags"))


@emulation("aws:cloudwatch/eventRule:EventRule", _read_rule)
def _event_rule(step: Step) -> Outputs:
    name = step.get("name") or step.name
    params = step.params(
        "events", "PutRule", ["description", "eventPattern", "scheduleExpression", "roleArn", "state", "eventBusName"]
    )
    arn = step.call("events", "PutRule", Name=name, Tags=tag_list(step), **params)["RuleArn"]
    bus = {"EventBusName": params["EventBusName"]} if "EventBusName" in params else {}
    return {"id": name, "name": name, "arn": arn, "params": params, "bus": bus}


def _read_target(step: Step, out: Outputs) -> None:
    targets = step.call("events", "ListTargetsByRule", Rule=out["rule"])["Targets"]
    step.expect("target", {"Id": out["target"], "Arn": step.inputs.get("arn")}, targets)


@emulation("aws:cloudwatch/eventTarget:EventTarget", _read_target)
def _event_target(step: Step) -> Outputs:
    target_id = step.get("targetId") or step.name
    target = step.params_from(
        "events",
        "PutTargets",
        {
            "Targets": [
                {
                    "id": target_id,
                    **step.take("arn", "roleArn", "input", "inputPath", "sqsTarget", "deadLetterConfig", "retryPolicy"),
                }
            ]
        },
    )["Targets"][0]
    rule = step.get("rule")
    answer = step.call("events", "PutTargets", Rule=rule, Targets=[target])
    if answer.get("FailedEntryCount"):
        raise Refused("events:PutTargets", json.dumps(answer.get("FailedEntries")))
    return {"id": f"{rule}-{target_id}", "rule": rule, "target": target_id}


def _read_log_group(step: Step, out: Outputs) -> None:
    groups = step.call("logs", "DescribeLogGroups", logGroupNamePrefix=out["name"])["logGroups"]
    group = _first([g for g in groups if g["logGroupName"] == out["name"]], "logs:DescribeLogGroups")
    step.expect("retentionInDays", step.inputs.get("retentionInDays"), group.get("retentionInDays"))
    step.expect("kmsKeyId", step.inputs.get("kmsKeyId"), group.get("kmsKeyId"))
    step.expect_tags(step.call("logs", "ListTagsForResource", resourceArn=out["arn"].removesuffix(":*")).get("tags"))


@emulation("aws:cloudwatch/logGroup:LogGroup", _read_log_group, skipDestroy=ON_DELETE)
def _log_group(step: Step) -> Outputs:
    name = step.get("name") or step.name
    params = step.params("logs", "CreateLogGroup", ["kmsKeyId", "logGroupClass"])
    step.call(
        "logs",
        "CreateLogGroup",
        logGroupName=name,
        tags={k: str(v) for k, v in (step.get("tags") or {}).items()},
        **params,
    )
    if step.inputs.get("retentionInDays"):
        step.call("logs", "PutRetentionPolicy", logGroupName=name, retentionInDays=int(step.get("retentionInDays")))
    return {"id": name, "name": name, "arn": f"arn:aws:logs:{step.region}:123456789012:log-group:{name}"}


def _read_secret(step: Step, out: Outputs) -> None:
    secret = step.call("secretsmanager", "DescribeSecret", SecretId=out["arn"])
    step.expect("secret", out["params"], secret)
    step.expect_tags(secret.get("Tags"))


@emulation(
    "aws:secretsmanager/secret:Secret",
    _read_secret,
    recoveryWindowInDays="a DeleteSecret parameter, used when the secret is destroyed",
    forceOverwriteReplicaSecret="a replication switch of one request",
)
def _secret(step: Step) -> Outputs:
    step.get("recoveryWindowInDays")
    name = step.get("name") or step.name
    params = step.params("secretsmanager", "CreateSecret", ["description", "kmsKeyId"])
    arn = step.call("secretsmanager", "CreateSecret", Name=name, Tags=tag_list(step), **params)["ARN"]
    return {"id": arn, "arn": arn, "name": name, "params": params}


def _read_secret_version(step: Step, out: Outputs) -> None:
    value = step.call("secretsmanager", "GetSecretValue", SecretId=out["secret"])
    step.expect("secretString", step.inputs.get("secretString"), value.get("SecretString"))


@emulation("aws:secretsmanager/secretVersion:SecretVersion", _read_secret_version)
def _secret_version(step: Step) -> Outputs:
    secret = step.get("secretId")
    params = step.params("secretsmanager", "PutSecretValue", ["secretString", "secretBinary", "versionStages"])
    version = step.call("secretsmanager", "PutSecretValue", SecretId=secret, **params)
    return {"id": f"{secret}|{version['VersionId']}", "secret": secret}


def _read_glue_db(step: Step, out: Outputs) -> None:
    database = step.call("glue", "GetDatabase", Name=out["name"])["Database"]
    step.expect("database", out["params"], database)


@emulation("aws:glue/catalogDatabase:CatalogDatabase", _read_glue_db)
def _glue_db(step: Step) -> Outputs:
    name = step.get("name") or step.name
    database = step.params("glue", "CreateDatabase", [], renames={})
    database = step.params_from(
        "glue",
        "CreateDatabase",
        {"DatabaseInput": {"name": name, **step.take("description", "locationUri", "parameters")}},
    )["DatabaseInput"]
    catalog = {"CatalogId": step.get("catalogId")} if step.inputs.get("catalogId") else {}
    tags = {"Tags": {k: str(v) for k, v in (step.get("tags") or {}).items()}} if step.inputs.get("tags") else {}
    step.call("glue", "CreateDatabase", DatabaseInput=database, **catalog, **tags)
    return {
        "id": f"123456789012:{name}",
        "name": name,
        "arn": f"arn:aws:glue:{step.region}:123456789012:database/{name}",
        "params": database,
    }


def _read_glue_encryption(step: Step, out: Outputs) -> None:
    settings = step.call("glue", "GetDataCatalogEncryptionSettings", **out["catalog"])["DataCatalogEncryptionSettings"]
    step.expect("dataCatalogEncryptionSettings", out["params"], settings)


@emulation("aws:glue/dataCatalogEncryptionSettings:DataCatalogEncryptionSettings", _read_glue_encryption)
def _glue_encryption(step: Step) -> Outputs:
    params = step.params("glue", "PutDataCatalogEncryptionSettings", ["catalogId", "dataCatalogEncryptionSettings"])
    step.call("glue", "PutDataCatalogEncryptionSettings", **params)
    catalog = {"CatalogId": params["CatalogId"]} if "CatalogId" in params else {}
    return {"id": params.get("CatalogId", ""), "catalog": catalog, "params": params["DataCatalogEncryptionSettings"]}


def _read_amp(step: Step, out: Outputs) -> None:
    workspace = step.call("amp", "DescribeWorkspace", workspaceId=out["id"])["workspace"]
    step.expect("alias", step.inputs.get("alias"), workspace.get("alias"))
    step.expect("kmsKeyArn", step.inputs.get("kmsKeyArn"), workspace.get("kmsKeyArn"), modelled=False)  # moto: no CMK
    step.expect_tags(workspace.get("tags"))


@emulation("aws:amp/workspace:Workspace", _read_amp)
def _amp(step: Step) -> Outputs:
    params = step.params("amp", "CreateWorkspace", ["alias", "kmsKeyArn"])
    workspace = step.call(
        "amp", "CreateWorkspace", tags={k: str(v) for k, v in (step.get("tags") or {}).items()}, **params
    )
    return {"id": workspace["workspaceId"], "arn": workspace["arn"]}


# -- ECR ---------------------------------------------------------------------------------------------------------


def _read_repository(step: Step, out: Outputs) -> None:
    repository = _first(
        step.call("ecr", "DescribeRepositories", repositoryNames=[out["name"]])["repositories"],
        "ecr:DescribeRepositories",
    )
    step.expect("repository", out["params"], repository)
    step.expect_tags(step.call("ecr", "ListTagsForResource", resourceArn=repository["repositoryArn"]).get("tags"))


@emulation("aws:ecr/repository:Repository", _read_repository, forceDelete=ON_DELETE)
def _repository(step: Step) -> Outputs:
    step.get("forceDelete")
    name = step.get("name") or step.name
    params = step.params(
        "ecr",
        "CreateRepository",
        ["imageTagMutability", "imageScanningConfiguration", "encryptionConfigurations"],
        renames={"encryptionConfigurations": "encryptionConfiguration"},
    )
    repository = step.call("ecr", "CreateRepository", repositoryName=name, tags=tag_list(step), **params)["repository"]
    return {"id": name, "name": name, "arn": repository["repositoryArn"], "params": params}


def _read_repository_document(get: str, member: str) -> Read:
    def read(step: Step, out: Outputs) -> None:
        step.expect(
            "policy", _policy(step.inputs.get("policy")), step.call("ecr", get, repositoryName=out["name"])[member]
        )

    return read


def _repository_document(put: str, member: str) -> Create:
    def create(step: Step) -> Outputs:
        name = step.get("repository")
        if put == "SetRepositoryPolicy":
            check_resource_policy(
                "ecr:SetRepositoryPolicy", "InvalidParameterException", str(step.inputs.get("policy"))
            )
        step.call("ecr", put, repositoryName=name, **{member: step.get("policy")})
        return {"id": name, "name": name}

    return create


MAPPINGS["aws:ecr/lifecyclePolicy:LifecyclePolicy"] = Emulation(
    _repository_document("PutLifecyclePolicy", "lifecyclePolicyText"),
    _read_repository_document("GetLifecyclePolicy", "lifecyclePolicyText"),
)
MAPPINGS["aws:ecr/repositoryPolicy:RepositoryPolicy"] = Emulation(
    _repository_document("SetRepositoryPolicy", "policyText"),
    _read_repository_document("GetRepositoryPolicy", "policyText"),
)


def _read_replication(step: Step, out: Outputs) -> None:
    registry = step.call("ecr", "DescribeRegistry")
    step.expect("replicationConfiguration", out["params"], registry.get("replicationConfiguration"))


@emulation("aws:ecr/replicationConfiguration:ReplicationConfiguration", _read_replication)
def _ecr_replication(step: Step) -> Outputs:
    params = step.params("ecr", "PutReplicationConfiguration", ["replicationConfiguration"])
    step.call("ecr", "PutReplicationConfiguration", **params)
    return {"id": "123456789012", "params": params["replicationConfiguration"]}


def _read_scanning(step: Step, out: Outputs) -> None:
    answer = step.call("ecr", "GetRegistryScanningConfiguration")
    step.expect("scanningConfiguration", out["params"], answer.get("scanningConfiguration"))


@emulation("aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration", _read_scanning)
def _ecr_scanning(step: Step) -> Outputs:
    params = step.params("ecr", "PutRegistryScanningConfiguration", ["scanType", "rules"])
    step.call("ecr", "PutRegistryScanningConfiguration", **params)
    return {"id": "123456789012", "params": params}


# -- ElastiCache, RDS ----------------------------------------------------------------------------------------------


def _read_cache_subnet_group(step: Step, out: Outputs) -> None:
    group = _first(
        step.call("elasticache", "DescribeCacheSubnetGroups", CacheSubnetGroupName=out["name"])["CacheSubnetGroups"],
        "elasticache:DescribeCacheSubnetGroups",
    )
    step.expect("subnetIds", step.inputs.get("subnetIds"), [s["SubnetIdentifier"] for s in group.get("Subnets", [])])


@emulation("aws:elasticache/subnetGroup:SubnetGroup", _read_cache_subnet_group)
def _cache_subnet_group(step: Step) -> Outputs:
    name = step.get("name") or step.name
    params = step.params(
        "elasticache",
        "CreateCacheSubnetGroup",
        ["description", "subnetIds"],
        renames={"description": "CacheSubnetGroupDescription"},
    )
    params.setdefault("CacheSubnetGroupDescription", "Managed by Pulumi")
    step.call("elasticache", "CreateCacheSubnetGroup", CacheSubnetGroupName=name, Tags=tag_list(step), **params)
    return {"id": name, "name": name}


REPLICATION_GROUP_RENAMES = {
    "description": "ReplicationGroupDescription",
    "nodeType": "CacheNodeType",
    "subnetGroupName": "CacheSubnetGroupName",
    "maintenanceWindow": "PreferredMaintenanceWindow",
    "parameterGroupName": "CacheParameterGroupName",
    "numNodeGroups": "NumNodeGroups",
    "replicasPerNodeGroup": "ReplicasPerNodeGroup",
}


def _log_delivery(entries: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for entry in entries:
        kind = entry.get("destinationType")
        details = (
            {"CloudWatchLogsDetails": {"LogGroup": entry["destination"]}}
            if kind == "cloudwatch-logs"
            else {"KinesisFirehoseDetails": {"DeliveryStream": entry["destination"]}}
        )
        out.append(
            {
                "LogType": entry.get("logType"),
                "DestinationType": kind,
                "DestinationDetails": details,
                "LogFormat": entry.get("logFormat"),
            }
        )
    return out


def _read_replication_group(step: Step, out: Outputs) -> None:
    group = _first(
        step.call("elasticache", "DescribeReplicationGroups", ReplicationGroupId=out["id"])["ReplicationGroups"],
        "elasticache:DescribeReplicationGroups",
    )
    declared = out["params"]
    for flag in (
        "AtRestEncryptionEnabled",
        "TransitEncryptionEnabled",
        "KmsKeyId",
        "CacheNodeType",
        "SnapshotRetentionLimit",
        "SnapshotWindow",
    ):
        if flag in declared:
            step.expect(flag, declared[flag], group.get(flag))
    if "MultiAZEnabled" in declared:
        step.expect("MultiAZ", "enabled" if declared["MultiAZEnabled"] else "disabled", group.get("MultiAZ"))
    if "AutomaticFailoverEnabled" in declared:
        step.expect(
            "AutomaticFailover",
            "enabled" if declared["AutomaticFailoverEnabled"] else "disabled",
            group.get("AutomaticFailover"),
        )
    step.expect("AuthTokenEnabled", "AuthToken" in declared, group.get("AuthTokenEnabled", False))


@emulation(
    "aws:elasticache/replicationGroup:ReplicationGroup",
    _read_replication_group,
    applyImmediately=ON_UPDATE,
    authTokenUpdateStrategy=ON_UPDATE,
    finalSnapshotIdentifier="a DeleteReplicationGroup parameter, used when the group is destroyed",
)
def _replication_group(step: Step) -> Outputs:
    for key in ("applyImmediately", "authTokenUpdateStrategy", "finalSnapshotIdentifier"):
        step.get(key)
    group_id = step.get("replicationGroupId") or step.name
    params = step.params(
        "elasticache",
        "CreateReplicationGroup",
        exclude=(
            "tags",
            "replicationGroupId",
            "logDeliveryConfigurations",
            "applyImmediately",
            "authTokenUpdateStrategy",
            "finalSnapshotIdentifier",
        ),
        renames=REPLICATION_GROUP_RENAMES,
    )
    if step.get("logDeliveryConfigurations"):
        params["LogDeliveryConfigurations"] = _log_delivery(step.inputs["logDeliveryConfigurations"])
    check_engine_version(
        step, "elasticache:CreateReplicationGroup", str(params.get("Engine", "redis")), params.get("EngineVersion")
    )
    step.call("elasticache", "CreateReplicationGroup", ReplicationGroupId=group_id, Tags=tag_list(step), **params)
    return {
        "id": group_id,
        "arn": f"arn:aws:elasticache:{step.region}:123456789012:replicationgroup:{group_id}",
        "params": params,
    }


def _read_db_subnet_group(step: Step, out: Outputs) -> None:
    group = _first(
        step.call("rds", "DescribeDBSubnetGroups", DBSubnetGroupName=out["name"])["DBSubnetGroups"],
        "rds:DescribeDBSubnetGroups",
    )
    step.expect("subnetIds", step.inputs.get("subnetIds"), [s["SubnetIdentifier"] for s in group.get("Subnets", [])])


@emulation("aws:rds/subnetGroup:SubnetGroup", _read_db_subnet_group)
def _db_subnet_group(step: Step) -> Outputs:
    name = step.get("name") or step.name
    params = step.params(
        "rds", "CreateDBSubnetGroup", ["description", "subnetIds"], renames={"description": "DBSubnetGroupDescription"}
    )
    params.setdefault("DBSubnetGroupDescription", "Managed by Pulumi")
    step.call("rds", "CreateDBSubnetGroup", DBSubnetGroupName=name, Tags=tag_list(step), **params)
    return {"id": name, "name": name}


def _read_parameter_group(step: Step, out: Outputs) -> None:
    parameters = step.call("rds", "DescribeDBParameters", DBParameterGroupName=out["name"], Source="user")["Parameters"]
    step.expect("parameters", out["parameters"], parameters)


@emulation("aws:rds/parameterGroup:ParameterGroup", _read_parameter_group)
def _parameter_group(step: Step) -> Outputs:
    name = step.get("name") or step.name
    params = step.params(
        "rds", "CreateDBParameterGroup", ["family", "description"], renames={"family": "DBParameterGroupFamily"}
    )
    params.setdefault("Description", "Managed by Pulumi")
    step.call("rds", "CreateDBParameterGroup", DBParameterGroupName=name, Tags=tag_list(step), **params)
    declared = [
        {f"parameter{k[0].upper()}{k[1:]}" if k in ("name", "value") else k: v for k, v in p.items()}
        for p in step.get("parameters") or []
    ]
    parameters = step.params_from("rds", "ModifyDBParameterGroup", {"Parameters": declared}).get("Parameters", [])
    if parameters:
        step.call("rds", "ModifyDBParameterGroup", DBParameterGroupName=name, Parameters=parameters)
    return {"id": name, "name": name, "parameters": parameters}


DB_INSTANCE_RENAMES = {
    "identifier": "DBInstanceIdentifier",
    "instanceClass": "DBInstanceClass",
    "username": "MasterUsername",
    "password": "MasterUserPassword",
    "parameterGroupName": "DBParameterGroupName",
    "backupWindow": "PreferredBackupWindow",
    "maintenanceWindow": "PreferredMaintenanceWindow",
    "enabledCloudwatchLogsExports": "EnableCloudwatchLogsExports",
    "iamDatabaseAuthenticationEnabled": "EnableIAMDatabaseAuthentication",
    "performanceInsightsEnabled": "EnablePerformanceInsights",
    "multiAz": "MultiAZ",
    "dbName": "DBName",
}


def _read_db_instance(step: Step, out: Outputs) -> None:
    instance = _first(
        step.call("rds", "DescribeDBInstances", DBInstanceIdentifier=out["id"])["DBInstances"],
        "rds:DescribeDBInstances",
    )
    declared = out["params"]
    for key in (
        "DBInstanceClass",
        "Engine",
        "EngineVersion",
        "AllocatedStorage",
        "StorageEncrypted",
        "KmsKeyId",
        "MultiAZ",
        "PubliclyAccessible",
        "BackupRetentionPeriod",
        "DeletionProtection",
        "MasterUsername",
        "StorageType",
    ):
        if key in declared:
            step.expect(key, declared[key], instance.get(key))
    if "DBSubnetGroupName" in declared:
        step.expect(
            "DBSubnetGroupName",
            declared["DBSubnetGroupName"],
            (instance.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
        )
    if "VpcSecurityGroupIds" in declared:
        step.expect(
            "VpcSecurityGroupIds",
            declared["VpcSecurityGroupIds"],
            [g["VpcSecurityGroupId"] for g in instance.get("VpcSecurityGroups", [])],
        )
    if "EnableCloudwatchLogsExports" in declared:
        step.expect(
            "EnableCloudwatchLogsExports",
            declared["EnableCloudwatchLogsExports"],
            instance.get("EnabledCloudwatchLogsExports"),
        )


@emulation(
    "aws:rds/instance:Instance",
    _read_db_instance,
    skipFinalSnapshot="a DeleteDBInstance parameter, used when the instance is destroyed",
    finalSnapshotIdentifier="a DeleteDBInstance parameter, used when the instance is destroyed",
    deleteAutomatedBackups="a DeleteDBInstance parameter, used when the instance is destroyed",
    applyImmediately=ON_UPDATE,
)
def _db_instance(step: Step) -> Outputs:
    for key in ("skipFinalSnapshot", "finalSnapshotIdentifier", "deleteAutomatedBackups", "applyImmediately"):
        step.get(key)
    identifier = step.get("identifier") or step.name
    params = step.params(
        "rds",
        "CreateDBInstance",
        exclude=(
            "tags",
            "identifier",
            "skipFinalSnapshot",
            "finalSnapshotIdentifier",
            "deleteAutomatedBackups",
            "applyImmediately",
        ),
        renames=DB_INSTANCE_RENAMES,
    )
    check_engine_version(step, "rds:CreateDBInstance", str(params.get("Engine")), params.get("EngineVersion"))
    step.call("rds", "CreateDBInstance", DBInstanceIdentifier=identifier, Tags=tag_list(step), **params)
    return {"id": identifier, "arn": f"arn:aws:rds:{step.region}:123456789012:db:{identifier}", "params": params}


# -- EKS -----------------------------------------------------------------------------------------------------------


def _read_cluster(step: Step, out: Outputs) -> None:
    cluster = step.call("eks", "DescribeCluster", name=out["name"])["cluster"]
    declared = dict(out["params"])
    declared.pop("accessConfig", None)  # DescribeCluster answers the mode, never the bootstrap switch
    step.expect(
        "cluster", declared, cluster, unmodelled=("upgradePolicy", "deletionProtection", "bootstrapSelfManagedAddons")
    )
    step.expect_tags(cluster.get("tags"))


@emulation(
    "aws:eks/cluster:Cluster", _read_cluster, defaultAddonsToRemoves="the provider's own add-on cleanup after creation"
)
def _cluster(step: Step) -> Outputs:
    name = step.get("name") or step.name
    params = step.params(
        "eks", "CreateCluster", exclude=("tags", "name", "vpcConfig", "enabledClusterLogTypes"), renames={}
    )
    params["resourcesVpcConfig"] = step.params_from(
        "eks", "CreateCluster", {"resourcesVpcConfig": step.get("vpcConfig") or {}}
    )["resourcesVpcConfig"]
    if step.get("enabledClusterLogTypes"):
        params["logging"] = {
            "clusterLogging": [{"types": list(step.inputs["enabledClusterLogTypes"]), "enabled": True}]
        }
    cluster = step.call(
        "eks", "CreateCluster", name=name, tags={k: str(v) for k, v in (step.get("tags") or {}).items()}, **params
    )["cluster"]
    return {"id": name, "name": name, "arn": cluster["arn"], "params": params}


def _read_nodegroup(step: Step, out: Outputs) -> None:
    group = step.call("eks", "DescribeNodegroup", clusterName=out["cluster"], nodegroupName=out["name"])["nodegroup"]
    step.expect("nodegroup", out["params"], group, unmodelled=("updateConfig",))


@emulation("aws:eks/nodeGroup:NodeGroup", _read_nodegroup, forceUpdateVersion=ON_UPDATE)
def _nodegroup(step: Step) -> Outputs:
    cluster = step.get("clusterName")
    name = step.get("nodeGroupName") or step.name
    params = step.params(
        "eks",
        "CreateNodegroup",
        exclude=("tags", "clusterName", "nodeGroupName", "subnetIds", "forceUpdateVersion"),
        renames={"nodeRoleArn": "nodeRole"},
    )
    params["subnets"] = list(step.get("subnetIds") or [])
    _instance_types(step, list(params.get("instanceTypes") or []))
    group = step.call(
        "eks",
        "CreateNodegroup",
        clusterName=cluster,
        nodegroupName=name,
        tags={k: str(v) for k, v in (step.get("tags") or {}).items()},
        **params,
    )["nodegroup"]
    return {
        "id": f"{cluster}:{name}",
        "name": name,
        "nodeGroupName": name,
        "cluster": cluster,
        "arn": group["nodegroupArn"],
        "params": params,
    }
