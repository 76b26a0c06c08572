"""SQS, EventBridge, CloudWatch Logs, Secrets Manager, Glue and Amazon Managed Prometheus."""

from __future__ import annotations

import json

from mlplat.verify.mappings.base import (
    ON_DELETE,
    Outputs,
    document,
    emulation,
    first,
    tag_list,
)
from mlplat.verify.policy_documents import check_resource_policy
from mlplat.verify.step import Refused, Step

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
    step.expect("policy", document(step.inputs.get("policy")), attributes.get("Policy"))


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
    group = first([g for g in groups if g["logGroupName"] == out["name"]], "logs:DescribeLogGroups")
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
