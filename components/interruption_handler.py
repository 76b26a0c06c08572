"""Spot interruption handling: an encrypted SQS queue fed by EventBridge, and aws-node-termination-handler in queue
mode draining GPU nodes on the two-minute notice, on rebalance recommendations and before any termination."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components import iam_documents
from components.eks_cluster import ClusterRef
from components.kms_key import KmsKey, KmsKeyArgs, ServiceGrant
from components.toolkit import RegionEnv, helm_release, irsa_role

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "aws-node-termination-handler"

# The events aws-node-termination-handler acts on in queue mode (its README, "Queue Processor").
EVENT_PATTERNS: dict[str, dict[str, Any]] = {
    "spot-interruption": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "state-change": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
    "scheduled-change": {
        "source": ["aws.health"],
        "detail-type": ["AWS Health Event"],
        "detail": {"service": ["EC2"], "eventTypeCategory": ["scheduledChange"]},
    },
}


def lifecycle_pattern(asg_names: Sequence[str]) -> dict[str, Any]:
    """Termination lifecycle actions, of these groups only."""
    return {
        "source": ["aws.autoscaling"],
        "detail-type": ["EC2 Instance-terminate Lifecycle Action"],
        "detail": {"AutoScalingGroupName": sorted(asg_names)},
    }


@dataclass(frozen=True, kw_only=True)
class InterruptionHandlerArgs:
    cluster: ClusterRef
    env: RegionEnv
    asg_names: Sequence[pulumi.Input[str]]
    asg_arns: Sequence[pulumi.Input[str]]
    node_selector: Mapping[str, str] = field(default_factory=lambda: {"mlplat/pool": "system"})


class InterruptionHandler(pulumi.ComponentResource):
    """One queue per cluster. The handler runs on the on-demand system pool, never on the nodes it drains."""

    def __init__(self, name: str, args: InterruptionHandlerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplat:index:InterruptionHandler", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.env.tags)
        key = KmsKey(
            f"{name}-queue-key",
            KmsKeyArgs.for_env(
                args.env,
                description=f"Interruption queue {name}",
                # EventBridge encrypts what it delivers to the queue with this key.
                service_grants=[
                    ServiceGrant(principal="events.amazonaws.com", actions=("kms:GenerateDataKey*", "kms:Decrypt"))
                ],
            ),
            opts=child,
        )
        self.queue = aws.sqs.Queue(
            f"{name}-queue",
            message_retention_seconds=300,  # an interruption notice is useless after its two minutes
            kms_master_key_id=key.arn,
            kms_data_key_reuse_period_seconds=300,
            tags={**tags, "Name": f"{name}-queue"},
            opts=child,
        )
        patterns: dict[str, pulumi.Input[str]] = {kind: json.dumps(p) for kind, p in EVENT_PATTERNS.items()}
        patterns["lifecycle"] = pulumi.Output.all(*args.asg_names).apply(
            lambda names: json.dumps(lifecycle_pattern([str(n) for n in names]))
        )
        rules = []
        for kind, pattern in patterns.items():
            rule = aws.cloudwatch.EventRule(
                f"{name}-{kind}",
                description=f"{kind} events for aws-node-termination-handler ({name})",
                event_pattern=pattern,
                tags={**tags, "Name": f"{name}-{kind}"},
                opts=child,
            )
            aws.cloudwatch.EventTarget(f"{name}-{kind}-target", rule=rule.name, arn=self.queue.arn, opts=child)
            rules.append(rule)
        aws.sqs.QueuePolicy(
            f"{name}-queue-policy",
            queue_url=self.queue.url,
            policy=pulumi.Output.all(self.queue.arn, *[r.arn for r in rules]).apply(
                lambda v: iam_documents.document(
                    [
                        {
                            "Sid": "EventBridgeRules",
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": v[0],
                            "Condition": {"ArnEquals": {"aws:SourceArn": list(v[1:])}},
                        },
                        {
                            "Sid": "TlsOnly",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "sqs:*",
                            "Resource": v[0],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        },
                    ]
                )
            ),
            opts=child,
        )

        cluster = args.cluster
        role = irsa_role(
            f"{name}-irsa",
            cluster=cluster,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            env=args.env,
            purpose="drains nodes of the GPU pools",
            policy=pulumi.Output.all(self.queue.arn, key.arn, *args.asg_arns).apply(
                lambda v: iam_documents.node_termination_handler(v[0], v[1], [str(a) for a in v[2:]])
            ),
            kind="controller",
            former_policy_name=f"{name}-irsa-policy",
            opts=child,
        )
        self.release = helm_release(
            f"{name}-nth",
            "aws-node-termination-handler",
            namespace=NAMESPACE,
            values={
                "enableSqsTerminationDraining": True,
                # taints a node on a notice: kube-state-metrics turns the taint into the spot-interruption alert
                "taintNode": True,
                "queueURL": self.queue.url,
                "awsRegion": args.env.region,
                # Left at the chart's defaults: drain only instances of groups tagged
                # `aws-node-termination-handler/managed`, which the GPU pools carry (and propagate to instances).
                "deleteSqsMsgIfNodeNotFound": True,
                "serviceAccount": {
                    "create": True,
                    "name": SERVICE_ACCOUNT,
                    "annotations": {"eks.amazonaws.com/role-arn": role.arn},
                },
                "nodeSelector": dict(args.node_selector),
                "priorityClassName": "system-cluster-critical",
            },
            opts=pulumi.ResourceOptions(parent=self, provider=cluster.kubernetes_provider),
        )
        self.queue_url = self.queue.url
        self.role_arn = role.arn
        self.register_outputs({"queue_url": self.queue_url, "role_arn": self.role_arn})
