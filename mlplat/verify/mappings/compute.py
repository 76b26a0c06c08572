"""EC2 compute and EKS: launch templates, Auto Scaling groups, the EKS cluster and node groups."""

from __future__ import annotations

from typing import Any

from mlplat.verify.mappings.base import (
    ON_DELETE,
    ON_UPDATE,
    Outputs,
    ec2_tags,
    emulation,
    first,
)
from mlplat.verify.step import Step

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
    version = first(versions["LaunchTemplateVersions"], "ec2:DescribeLaunchTemplateVersions")
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
    group = first(groups, "autoscaling:DescribeAutoScalingGroups")
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
