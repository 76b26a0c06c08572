"""Traffic entry of a regional stack: an ALB declared in Pulumi (TLS only, WAF, access logs), bound to the serving
pods by the AWS Load Balancer Controller's `TargetGroupBinding`, and the region's DNS names in the platform zone.

The ALB, its listeners, target group and web ACL are ordinary resources here (not created by the controller from an
Ingress), so the policies, the cost estimate and the DNS records see them in the graph. The region publishes
`{region}.{domain}` and its own entry of the latency record `{jurisdiction}.{domain}`: a jurisdiction's name only
ever lists that jurisdiction's regions, because only those regions' stacks write into it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.config import IngressConfig
from components.eks_cluster import ClusterRef
from components.secure_bucket import Lifecycle, SecureBucket, SecureBucketArgs
from components.toolkit import RegionEnv, alias_record, allow_tcp

TENANT_HEADER = "x-mlplat-tenant"
# TLS 1.2 and 1.3 only, forward-secret ciphers (Elastic Load Balancing security policies, AWS docs).
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
HEALTH_PATH = "/health/ready"
# Regions launched before August 2022 deliver ALB access logs from these Elastic Load Balancing accounts
# (AWS docs: "Enable access logs for your Application Load Balancer", step 2); newer regions use the service.
ELB_LOG_ACCOUNTS = {
    "us-east-1": "127311923021",
    "us-east-2": "033677994240",
    "us-west-1": "027434742980",
    "us-west-2": "797873946194",
    "eu-west-1": "156460612806",
    "eu-west-2": "652711504416",
    "eu-west-3": "009996457667",
    "eu-central-1": "054676820928",
    "eu-north-1": "897822967062",
    "ap-southeast-1": "114774131450",
    "ap-southeast-2": "783225319266",
    "ap-northeast-1": "582318560864",
}
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
)
# The common rule set blocks bodies over 8 KB; batched scoring requests are larger. Serving enforces its own
# body limit (413), so the WAF only counts these.
COUNT_ONLY_RULES = {"AWSManagedRulesCommonRuleSet": ("SizeRestrictions_BODY",)}


@dataclass(frozen=True, kw_only=True)
class ServingIngressArgs:
    cluster: ClusterRef
    env: RegionEnv
    jurisdiction: str
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    public_subnet_ids: Sequence[pulumi.Input[str]]
    private_subnet_ids: Sequence[pulumi.Input[str]]
    settings: IngressConfig
    domain: str
    zone_id: pulumi.Input[str]
    tenants: Sequence[str]  # tenants this region may serve: each gets its own WAF rate limit
    service_namespace: str = "mlplat"
    service_name: str = "serving"
    service_port: int = 8080
    deletion_protection: bool = True
    after: Sequence[pulumi.Resource] = ()  # the serving Service and the load balancer controller


def _validation_option(
    fqdn: str, options: Sequence[aws.acm.outputs.CertificateDomainValidationOption]
) -> aws.acm.outputs.CertificateDomainValidationOption:
    """The DNS record ACM asks for to validate `fqdn` (the options come in no guaranteed order)."""
    return next(o for o in options if o.domain_name == fqdn)


def region_name(region: str, domain: str) -> str:
    return f"{region}.{domain}"


def jurisdiction_name(jurisdiction: str, domain: str) -> str:
    return f"{jurisdiction}.{domain}"


def waf_rules(settings: IngressConfig, tenants: Sequence[str]) -> list[aws.wafv2.WebAclRuleArgs]:
    """Managed rule groups first, then a rate limit per client address, and one per client of each tenant."""

    def visibility(metric: str) -> aws.wafv2.WebAclRuleVisibilityConfigArgs:
        return aws.wafv2.WebAclRuleVisibilityConfigArgs(
            cloudwatch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True
        )

    rules = [
        aws.wafv2.WebAclRuleArgs(
            name=group,
            priority=priority,
            override_action=aws.wafv2.WebAclRuleOverrideActionArgs(none=aws.wafv2.WebAclRuleOverrideActionNoneArgs()),
            statement=aws.wafv2.WebAclRuleStatementArgs(
                managed_rule_group_statement=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementArgs(
                    name=group,
                    vendor_name="AWS",
                    rule_action_overrides=[
                        aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideArgs(
                            name=rule,
                            action_to_use=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseArgs(
                                count=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseCountArgs()
                            ),
                        )
                        for rule in COUNT_ONLY_RULES.get(group, ())
                    ],
                )
            ),
            visibility_config=visibility(group),
        )
        for priority, group in enumerate(MANAGED_RULE_GROUPS)
    ]
    block = aws.wafv2.WebAclRuleActionArgs(block=aws.wafv2.WebAclRuleActionBlockArgs())
    next_priority = len(rules)
    for offset, tenant in enumerate(sorted(t for t in tenants if t in settings.tenant_rate_limits)):
        rules.append(
            aws.wafv2.WebAclRuleArgs(
                name=f"rate-tenant-{tenant}",
                priority=next_priority + offset,
                action=block,
                statement=aws.wafv2.WebAclRuleStatementArgs(
                    rate_based_statement=aws.wafv2.WebAclRuleStatementRateBasedStatementArgs(
                        limit=settings.tenant_rate_limits[tenant],
                        evaluation_window_sec=settings.rate_window_seconds,
                        aggregate_key_type="IP",
                        scope_down_statement=aws.wafv2.WebAclRuleStatementRateBasedStatementScopeDownStatementArgs(
                            byte_match_statement=aws.wafv2.WebAclRuleStatementRateBasedStatementScopeDownStatementByteMatchStatementArgs(
                                field_to_match=aws.wafv2.WebAclRuleStatementRateBasedStatementScopeDownStatementByteMatchStatementFieldToMatchArgs(
                                    single_header=aws.wafv2.WebAclRuleStatementRateBasedStatementScopeDownStatementByteMatchStatementFieldToMatchSingleHeaderArgs(
                                        name=TENANT_HEADER
                                    )
                                ),
                                positional_constraint="EXACTLY",
                                search_string=tenant,
                                text_transformations=[
                                    aws.wafv2.WebAclRuleStatementRateBasedStatementScopeDownStatementByteMatchStatementTextTransformationArgs(
                                        priority=0, type="LOWERCASE"
                                    )
                                ],
                            )
                        ),
                    )
                ),
                visibility_config=visibility(f"rate-tenant-{tenant}"),
            )
        )
    rules.append(
        aws.wafv2.WebAclRuleArgs(
            name="rate-per-client",
            priority=next_priority + len(settings.tenant_rate_limits),
            action=block,
            statement=aws.wafv2.WebAclRuleStatementArgs(
                rate_based_statement=aws.wafv2.WebAclRuleStatementRateBasedStatementArgs(
                    limit=settings.rate_limit_per_client,
                    evaluation_window_sec=settings.rate_window_seconds,
                    aggregate_key_type="IP",
                )
            ),
            visibility_config=visibility("rate-per-client"),
        )
    )
    return rules


class ServingIngress(pulumi.ComponentResource):
    def __init__(self, name: str, args: ServingIngressArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplat:index:ServingIngress", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        settings = args.settings
        public = settings.scheme == "internet-facing"
        tags = args.env.tagged()
        self.region_fqdn = region_name(args.env.region, args.domain)
        self.jurisdiction_fqdn = jurisdiction_name(args.jurisdiction, args.domain)

        logs = self._log_bucket(name, args)
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-alb-sg",
            vpc_id=args.vpc_id,
            description=f"{name}: the serving ALB ({settings.scheme})",
            tags={**tags, "Name": f"{name}-alb-sg"},
            opts=child,
        )
        sources = ["0.0.0.0/0"] if public else [args.vpc_cidr]
        for port in (80, 443):
            for index, cidr in enumerate(sources):
                allow_tcp(f"{name}-alb-in-{port}-{index}", security_group_id=self.security_group.id, port=port,
                          cidr=cidr, description=f"clients on {port} ({'redirected to 443' if port == 80 else 'TLS'})",
                          tags=tags, opts=child)  # fmt: skip
        allow_tcp(f"{name}-alb-to-pods", security_group_id=self.security_group.id, port=args.service_port,
                  direction="egress", peer_group_id=args.cluster.node_security_group_id,
                  description="to the serving pods (IP targets in the nodes' security group)", tags=tags,
                  opts=child)  # fmt: skip
        allow_tcp(f"{name}-pods-from-alb", security_group_id=args.cluster.node_security_group_id,
                  port=args.service_port, peer_group_id=self.security_group.id,
                  description="serving pods from the ALB", tags=tags, opts=child)  # fmt: skip

        self.target_group = aws.lb.TargetGroup(
            f"{name}-serving",
            name=f"{name}-serving"[:32],
            port=args.service_port,
            protocol="HTTP",
            target_type="ip",
            vpc_id=args.vpc_id,
            deregistration_delay=30,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                path=HEALTH_PATH, matcher="200", interval=10, timeout=5, healthy_threshold=2, unhealthy_threshold=2
            ),
            tags=tags,
            opts=child,
        )
        self.load_balancer = aws.lb.LoadBalancer(
            f"{name}-alb",
            name=f"{name}-serving"[:32],
            load_balancer_type="application",
            internal=not public,
            security_groups=[self.security_group.id],
            subnets=list(args.public_subnet_ids if public else args.private_subnet_ids),
            drop_invalid_header_fields=True,
            desync_mitigation_mode="strictest",
            enable_deletion_protection=args.deletion_protection,
            idle_timeout=settings.idle_timeout_seconds,
            access_logs=aws.lb.LoadBalancerAccessLogsArgs(bucket=logs.bucket.bucket, prefix="alb", enabled=True),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[logs]),
        )

        certificate = aws.acm.Certificate(
            f"{name}-cert",
            domain_name=self.region_fqdn,
            subject_alternative_names=[self.jurisdiction_fqdn],
            validation_method="DNS",
            tags=tags,
            opts=child,
        )
        validation_fqdns = []
        for index, fqdn in enumerate((self.region_fqdn, self.jurisdiction_fqdn)):
            option = certificate.domain_validation_options.apply(functools.partial(_validation_option, fqdn))
            record = aws.route53.Record(
                f"{name}-cert-validation-{index}",
                zone_id=args.zone_id,
                name=option.apply(lambda o: str(o.resource_record_name)),
                type=option.apply(lambda o: str(o.resource_record_type)),
                records=[option.apply(lambda o: str(o.resource_record_value))],
                ttl=300,
                allow_overwrite=True,
                opts=child,
            )
            validation_fqdns.append(record.fqdn)
        validation = aws.acm.CertificateValidation(
            f"{name}-cert-validation",
            certificate_arn=certificate.arn,
            validation_record_fqdns=validation_fqdns,
            opts=child,
        )
        self.https = aws.lb.Listener(
            f"{name}-https",
            load_balancer_arn=self.load_balancer.arn,
            port=443,
            protocol="HTTPS",
            ssl_policy=TLS_POLICY,
            certificate_arn=validation.certificate_arn,
            default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=self.target_group.arn)],
            tags=tags,
            opts=child,
        )
        aws.lb.Listener(
            f"{name}-http",
            load_balancer_arn=self.load_balancer.arn,
            port=80,
            protocol="HTTP",
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(
                    type="redirect",
                    redirect=aws.lb.ListenerDefaultActionRedirectArgs(
                        port="443", protocol="HTTPS", status_code="HTTP_301"
                    ),
                )
            ],
            tags=tags,
            opts=child,
        )
        self.web_acl = aws.wafv2.WebAcl(
            f"{name}-waf",
            name=f"{name}-serving",
            scope="REGIONAL",
            description=f"{name}: managed rules and per-client rate limits in front of serving",
            default_action=aws.wafv2.WebAclDefaultActionArgs(allow=aws.wafv2.WebAclDefaultActionAllowArgs()),
            rules=waf_rules(settings, args.tenants),
            visibility_config=aws.wafv2.WebAclVisibilityConfigArgs(
                cloudwatch_metrics_enabled=True, metric_name=f"{name}-serving", sampled_requests_enabled=True
            ),
            tags=tags,
            opts=child,
        )
        aws.wafv2.WebAclAssociation(
            f"{name}-waf-alb", resource_arn=self.load_balancer.arn, web_acl_arn=self.web_acl.arn, opts=child
        )

        k8s.apiextensions.CustomResource(
            f"{name}-serving-tgb",
            api_version="elbv2.k8s.aws/v1beta1",
            kind="TargetGroupBinding",
            metadata={"name": args.service_name, "namespace": args.service_namespace},
            spec={
                "serviceRef": {"name": args.service_name, "port": args.service_port},
                "targetGroupARN": self.target_group.arn,
                "targetType": "ip",
            },
            opts=pulumi.ResourceOptions(
                parent=self, provider=args.cluster.kubernetes_provider, depends_on=list(args.after)
            ),
        )
        self.health_check = self._health_check(name, args, public)
        self._records(name, args)
        self.register_outputs(
            {
                "load_balancer_arn": self.load_balancer.arn,
                "dns_name": self.load_balancer.dns_name,
                "region_fqdn": self.region_fqdn,
                "jurisdiction_fqdn": self.jurisdiction_fqdn,
                "health_check_id": self.health_check.id,
            }
        )

    def _log_bucket(self, name: str, args: ServingIngressArgs) -> SecureBucket:
        bucket_name = f"mlplat-{name}-alb-access-logs"
        log_account = ELB_LOG_ACCOUNTS.get(args.env.region)

        def statements(values: list[Any]) -> list[dict[str, Any]]:
            partition, account = values
            principal = (
                {"AWS": f"arn:{partition}:iam::{log_account}:root"}
                if log_account
                else {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}
            )
            return [
                {
                    "Sid": "AlbAccessLogs",
                    "Effect": "Allow",
                    "Principal": principal,
                    "Action": "s3:PutObject",
                    "Resource": f"arn:{partition}:s3:::{bucket_name}/alb/AWSLogs/{account}/*",
                }
            ]

        # ALB access logs can only be delivered to SSE-S3 buckets (AWS docs), like S3 server access logs.
        return SecureBucket(
            f"{name}-alb-access-logs",
            SecureBucketArgs(
                bucket_name=bucket_name,
                kms_key_arn=None,
                lifecycle=Lifecycle(
                    infrequent_access_after=None,
                    glacier_after=None,
                    expire_after=args.settings.access_logs_expire_after_days,
                ),
                extra_policy_statements=pulumi.Output.all(args.env.partition, args.env.account_id).apply(statements),
                tags=args.env.tagged(**{"mlplat/data-class": "logs"}),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _health_check(self, name: str, args: ServingIngressArgs, public: bool) -> aws.route53.HealthCheck:
        child = pulumi.ResourceOptions(parent=self)
        settings = args.settings
        if public:
            return aws.route53.HealthCheck(
                f"{name}-health",
                type="HTTPS",
                fqdn=self.region_fqdn,
                port=443,
                resource_path=HEALTH_PATH,
                request_interval=settings.health_check_interval_seconds,
                failure_threshold=settings.health_check_failure_threshold,
                measure_latency=True,
                tags=args.env.tagged(Name=f"{name}-serving"),
                opts=child,
            )
        # Route 53's checkers cannot reach an internal ALB: the check follows an alarm on its healthy targets.
        alarm = aws.cloudwatch.MetricAlarm(
            f"{name}-healthy-targets",
            name=f"{name}-serving-healthy-targets",
            namespace="AWS/ApplicationELB",
            metric_name="HealthyHostCount",
            dimensions={
                "TargetGroup": self.target_group.arn_suffix,
                "LoadBalancer": self.load_balancer.arn_suffix,
            },
            statistic="Minimum",
            period=10 if settings.health_check_interval_seconds == 10 else 60,
            evaluation_periods=settings.health_check_failure_threshold,
            comparison_operator="LessThanThreshold",
            threshold=1,
            treat_missing_data="breaching",
            tags=args.env.tagged(),
            opts=child,
        )
        return aws.route53.HealthCheck(
            f"{name}-health",
            type="CLOUDWATCH_METRIC",
            cloudwatch_alarm_name=alarm.name,
            cloudwatch_alarm_region=args.env.region,
            insufficient_data_health_status="Unhealthy",
            tags=args.env.tagged(Name=f"{name}-serving"),
            opts=child,
        )

    def _records(self, name: str, args: ServingIngressArgs) -> None:
        child = pulumi.ResourceOptions(parent=self)
        alias_record(f"{name}-region-record", zone_id=args.zone_id, host=self.region_fqdn,
                     load_balancer=self.load_balancer, opts=child)  # fmt: skip
        alias_record(f"{name}-jurisdiction-record", zone_id=args.zone_id, host=self.jurisdiction_fqdn,
                     load_balancer=self.load_balancer, latency_region=args.env.region,
                     health_check_id=self.health_check.id, opts=child)  # fmt: skip
