"""Interruption handling: encrypted queue, the EventBridge rules NTH's queue mode needs, and NTH by Helm."""

import json
from typing import Any

from components.interruption_handler import EVENT_PATTERNS
from mlplat.synth import MOCK_ACCOUNT_ID


def _of(graph: dict[str, Any], type_token: str) -> list[dict[str, Any]]:
    return [r for r in graph["resources"] if r["type"] == type_token]


def _own(graph: dict[str, Any], type_token: str) -> list[dict[str, Any]]:
    """The handler's resources of a type (named `<prefix>-interruption-...`)."""
    return [r for r in _of(graph, type_token) if "-interruption" in r["name"]]


def test_queue_is_encrypted_and_short_lived(regional_graphs: dict[str, Any]) -> None:
    for graph in regional_graphs.values():
        (queue,) = _own(graph, "aws:sqs/queue:Queue")
        key_name = queue["name"].replace("-queue", "-queue-key")
        assert queue["inputs"]["kmsMasterKeyId"] == f"arn:aws:kms:{graph['region']}:{MOCK_ACCOUNT_ID}:key/{key_name}"
        assert queue["inputs"]["messageRetentionSeconds"] == 300
        (key,) = [k for k in _of(graph, "aws:kms/key:Key") if k["name"] == key_name]
        statements = json.loads(key["inputs"]["policy"])["Statement"]
        assert any(s["Principal"] == {"Service": "events.amazonaws.com"} for s in statements)


def test_rules_cover_every_interruption_and_feed_the_queue(regional_graphs: dict[str, Any]) -> None:
    for graph in regional_graphs.values():
        (queue,) = _own(graph, "aws:sqs/queue:Queue")
        queue_arn = f"arn:aws:sqs:{graph['region']}:{MOCK_ACCOUNT_ID}:{queue['name']}"
        rules = {r["name"].rsplit("interruption-", 1)[1]: r for r in _own(graph, "aws:cloudwatch/eventRule:EventRule")}
        assert set(rules) == {*EVENT_PATTERNS, "lifecycle"}
        patterns = {kind: json.loads(r["inputs"]["eventPattern"]) for kind, r in rules.items()}
        assert patterns["spot-interruption"]["detail-type"] == ["EC2 Spot Instance Interruption Warning"]
        assert patterns["rebalance"]["detail-type"] == ["EC2 Instance Rebalance Recommendation"]
        assert patterns["state-change"]["detail-type"] == ["EC2 Instance State-change Notification"]
        assert patterns["scheduled-change"]["source"] == ["aws.health"]
        assert patterns["scheduled-change"]["detail"]["eventTypeCategory"] == ["scheduledChange"]
        groups = sorted(g["inputs"].get("name", g["name"]) for g in _of(graph, "aws:autoscaling/group:Group"))
        assert patterns["lifecycle"]["detail"]["AutoScalingGroupName"] == groups
        targets = _own(graph, "aws:cloudwatch/eventTarget:EventTarget")
        assert sorted(t["inputs"]["rule"] for t in targets) == sorted(r["name"] for r in rules.values())
        assert {t["inputs"]["arn"] for t in targets} == {queue_arn}
        (policy,) = _own(graph, "aws:sqs/queuePolicy:QueuePolicy")
        allow = json.loads(policy["inputs"]["policy"])["Statement"][0]
        assert allow["Principal"] == {"Service": "events.amazonaws.com"} and allow["Action"] == "sqs:SendMessage"
        assert len(allow["Condition"]["ArnEquals"]["aws:SourceArn"]) == len(rules)


def test_handler_runs_in_queue_mode_with_a_scoped_role(regional_graphs: dict[str, Any]) -> None:
    for graph in regional_graphs.values():
        (queue,) = _own(graph, "aws:sqs/queue:Queue")
        (release,) = [
            r
            for r in _of(graph, "kubernetes:helm.sh/v3:Release")
            if r["inputs"]["chart"] == "oci://public.ecr.aws/aws-ec2/helm/aws-node-termination-handler"
        ]
        assert release["inputs"]["version"] == "0.27.6" and "repositoryOpts" not in release["inputs"]
        assert (
            release["inputs"]["values"]["deleteSqsMsgIfNodeNotFound"] is True
        )  # first in chart 0.22.0 (aws/aws-node-termination-handler#801)
        (provider,) = _of(graph, "pulumi:providers:kubernetes")
        assert release["provider"] == provider["name"]
        values = release["inputs"]["values"]
        assert values["enableSqsTerminationDraining"] is True
        assert values["queueURL"] == f"https://sqs.{graph['region']}.amazonaws.com/{MOCK_ACCOUNT_ID}/{queue['name']}"
        assert values["awsRegion"] == graph["region"]
        assert values["nodeSelector"] == {"mlplat/pool": "system"}  # never on the spot nodes it drains
        role_arn = values["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
        role_name = role_arn.rsplit("/", 1)[1]
        (policy,) = [p for p in _of(graph, "aws:iam/rolePolicy:RolePolicy") if p["inputs"]["role"] == f"{role_name}-id"]
        statements = {s["Sid"]: s for s in json.loads(policy["inputs"]["policy"])["Statement"]}
        assert statements["ConsumeQueue"]["Resource"] == [
            queue["inputs"].get("arn", f"arn:aws:sqs:{graph['region']}:{MOCK_ACCOUNT_ID}:{queue['name']}")
        ]
        asg_arns = statements["CompleteLifecycleActions"]["Resource"]
        assert len(asg_arns) == 2 and all(":autoScalingGroup:" in a for a in asg_arns)
        describe = {"autoscaling:DescribeAutoScalingInstances", "autoscaling:DescribeTags", "ec2:DescribeInstances"}
        assert set(statements["DescribeOnly"]["Action"]) == describe
