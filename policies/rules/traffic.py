"""Traffic entry: TLS-only listeners, a WAF in front of every public ALB, and DNS routing that never answers a
jurisdiction's name with a region outside it.

A Route 53 latency or failover policy (or a Global Accelerator) that spans jurisdictions fails over to any healthy
endpoint, so routing is built per jurisdiction and these rules prove it from the graph; the serving request guard
(451) stays as the last layer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from mlplat.graph import GraphIndex, as_list
from policies.engine import Graph, Resource, StackContext
from policies.rules.registry import RULES, first, inputs_of

FAMILY = "traffic"
RECORD = "aws:route53/record:Record"
HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
LISTENER_TYPES = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
LOAD_BALANCER_TYPES = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
WAF_ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"
ACCELERATOR = "aws:globalaccelerator/accelerator:Accelerator"
ACCELERATOR_LISTENER = "aws:globalaccelerator/listener:Listener"
ENDPOINT_GROUP = "aws:globalaccelerator/endpointGroup:EndpointGroup"
REGION_IN_HOST = re.compile(
    r"(?:^|\.)([a-z]{2}(?:-gov)?-[a-z]+-\d)\.(?:elb|elasticbeanstalk|execute-api)\.amazonaws\.com\.?$"
)
REGION_LABEL = re.compile(r"^[a-z]{2}(?:-gov)?-[a-z]+-\d$")
# Elastic Load Balancing security policies that allow TLS 1.2 and newer only (AWS docs, "Security policies").
TLS12_POLICY = re.compile(r"^ELBSecurityPolicy-(TLS13-1-[23]|TLS-1-2|FS-1-2|TLS13-1-3-PQ|TLS13-1-2-PQ)")


def host_region(host: Any) -> str | None:
    """The region a regional AWS endpoint's host name names (`x.eu-west-1.elb.amazonaws.com`), else None."""
    if not isinstance(host, str):
        return None
    match = REGION_IN_HOST.search(host.lower())
    return match.group(1) if match else None


def _label_region(name: Any) -> str | None:
    """`eu-west-1.ml.example.com` -> `eu-west-1` (the platform's per-region names)."""
    label = str(name or "").split(".", 1)[0]
    return label if REGION_LABEL.match(label) else None


def record_jurisdiction(record: Resource, context: StackContext) -> str | None:
    """A record named `{jurisdiction}.{domain}` belongs to that jurisdiction; `{region}.{domain}` to the region's."""
    name = str(inputs_of(record).get("name") or "").rstrip(".")
    label = name.split(".", 1)[0]
    if label in context.settings.jurisdictions:
        return label
    region = _label_region(name)
    return context.settings.jurisdiction_of(region) if region else None


def record_targets(record: Resource, index: GraphIndex) -> Iterator[tuple[str, str | None]]:
    """Each place a record can send a client, with the region it is in (None: unknown)."""
    inputs = inputs_of(record)
    for policy in as_list(inputs.get("latencyRoutingPolicies")):
        yield "latency region", first(policy).get("region")
    for alias in as_list(inputs.get("aliases")):
        target = first(alias).get("name")
        yield f"alias {target}", host_region(target) or _label_region(target)
    for value in as_list(inputs.get("records")):
        region = host_region(value) or _label_region(value)
        if region:
            yield f"record {value}", region
    check = index.resolve(inputs.get("healthCheckId"), (HEALTH_CHECK,))
    if check is not None:
        yield from (("health check " + what, region) for what, region in health_check_targets(check))


def health_check_targets(check: Resource) -> Iterator[tuple[str, str | None]]:
    inputs = inputs_of(check)
    if inputs.get("type") == "CLOUDWATCH_METRIC":
        yield f"alarm region {inputs.get('cloudwatchAlarmRegion')}", inputs.get("cloudwatchAlarmRegion")
    elif inputs.get("fqdn"):
        fqdn = inputs["fqdn"]
        yield f"target {fqdn}", host_region(fqdn) or _label_region(fqdn)
    elif inputs.get("ipAddress"):
        yield f"address {inputs['ipAddress']}", None


@RULES.graph_rule(
    "mlplat-traffic-dns-within-jurisdiction",
    "mandatory",
    "A jurisdiction's DNS name (records, latency regions, health-check targets) only ever leads to its own regions.",
    FAMILY,
)
def dns_within_jurisdiction(graph: Graph, context: StackContext) -> Iterator[tuple[Resource, str]]:
    index = GraphIndex.of(graph)
    for record in index.of_type(RECORD):
        jurisdiction = record_jurisdiction(record, context)
        if jurisdiction is None:
            continue
        for what, region in record_targets(record, index):
            if region is None:
                yield record, f"{what}: its region is unknown, so it cannot be proven to stay in {jurisdiction}"
            elif context.settings.jurisdiction_of(str(region)) != jurisdiction:
                yield record, f"{what} is in {region}, outside jurisdiction {jurisdiction}"


@RULES.graph_rule(
    "mlplat-traffic-accelerator-one-jurisdiction",
    "mandatory",
    "A Global Accelerator fails open to any healthy endpoint group, so one accelerator never spans jurisdictions.",
    FAMILY,
)
def accelerator_one_jurisdiction(graph: Graph, context: StackContext) -> Iterator[tuple[Resource, str]]:
    index = GraphIndex.of(graph)
    by_accelerator: dict[str, dict[str, list[str]]] = {}
    for group in index.of_type(ENDPOINT_GROUP):
        listener = index.resolve(inputs_of(group).get("listenerArn"), (ACCELERATOR_LISTENER,))
        accelerator = index.resolve(inputs_of(listener).get("acceleratorArn"), (ACCELERATOR,)) if listener else None
        owner = str(accelerator["name"]) if accelerator else str(inputs_of(group).get("listenerArn"))
        region = str(inputs_of(group).get("endpointGroupRegion") or group.get("region"))
        where = context.settings.jurisdiction_of(region) or f"unknown ({region})"
        by_accelerator.setdefault(owner, {}).setdefault(where, []).append(region)
    for accelerator in index.of_type(ACCELERATOR):
        spans = by_accelerator.get(str(accelerator["name"]), {})
        if len(spans) > 1:
            detail = "; ".join(f"{j}: {', '.join(sorted(r))}" for j, r in sorted(spans.items()))
            yield accelerator, f"endpoint groups span jurisdictions ({detail})"


@RULES.resource_rule(
    "aws-elb-listener-tls-only",
    "mandatory",
    "Clients reach serving over TLS 1.2+ only; a plain HTTP listener may only redirect to HTTPS.",
    list(LISTENER_TYPES),
    FAMILY,
)
def listener_tls_only(resource: Resource, _: StackContext) -> Iterator[str]:
    inputs = inputs_of(resource)
    protocol = str(inputs.get("protocol") or "HTTP").upper()
    if protocol == "HTTP":
        actions = [first(a) for a in as_list(inputs.get("defaultActions"))]
        redirects = [first(a.get("redirect")) for a in actions if a.get("type") == "redirect"]
        if not redirects or any(str(r.get("protocol", "")).upper() != "HTTPS" for r in redirects):
            yield f"plain HTTP listener on port {inputs.get('port')} does not redirect to HTTPS"
    elif protocol == "HTTPS":
        policy = str(inputs.get("sslPolicy") or "")
        if not TLS12_POLICY.match(policy):
            yield f"TLS policy {policy or '(default)'} allows protocols older than TLS 1.2"


def _load_balancer_name(arn: Any) -> str | None:
    """`arn:...:loadbalancer/app/<name>/<id>` -> `<name>`."""
    parts = str(arn or "").split(":loadbalancer/", 1)
    if len(parts) != 2:
        return None
    pieces = parts[1].split("/")
    return pieces[1] if len(pieces) >= 2 else None


@RULES.graph_rule(
    "aws-elb-public-alb-waf",
    "mandatory",
    "Every internet-facing ALB is protected by a WAF web ACL (managed rules, per-client rate limits).",
    FAMILY,
)
def public_alb_has_waf(graph: Graph, _: StackContext) -> Iterator[tuple[Resource, str]]:
    index = GraphIndex.of(graph)
    protected: set[str] = set()
    for association in index.of_type(WAF_ASSOCIATION):
        arn = inputs_of(association).get("resourceArn")
        target = index.resolve(arn, LOAD_BALANCER_TYPES)
        protected.add(str(target["name"]) if target else str(_load_balancer_name(arn)))
    for balancer in index.of_type(*LOAD_BALANCER_TYPES):
        inputs = inputs_of(balancer)
        if inputs.get("internal") is True or inputs.get("loadBalancerType", "application") != "application":
            continue
        if str(balancer["name"]) not in protected and str(inputs.get("name")) not in protected:
            yield balancer, "internet-facing ALB has no WAF web ACL association"
