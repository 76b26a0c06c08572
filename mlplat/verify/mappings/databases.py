"""ElastiCache and RDS: subnet groups, parameter groups, replication groups and instances."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlplat.verify.catalogue import check_engine_version
from mlplat.verify.mappings.base import (
    ON_UPDATE,
    Outputs,
    emulation,
    first,
    tag_list,
)
from mlplat.verify.step import Step


def _read_cache_subnet_group(step: Step, out: Outputs) -> None:
    group = first(
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
    group = first(
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
    group = first(
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
    instance = first(
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
