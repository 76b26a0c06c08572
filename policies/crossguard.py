"""The same rules as CrossGuard policies: a resource rule becomes a `ResourceValidationPolicy`, a graph rule a
`StackValidationPolicy` over a graph rebuilt from the stack's resources. Built here, packed only in `__main__.py`
(`PolicyPack(...)` starts a server and never returns), so tests call these validators directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    PolicyProviderResource,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from mlplat.graph import GRAPH_SCHEMA, Graph, Resource, provider_inputs
from policies.engine import Rule, StackContext
from policies.rules import RULES, WAIVER_TAG_PREFIX
from policies.settings import PolicySettings, settings_from

CONFIG_SCHEMA = PolicyConfigSchema(
    properties={
        "jurisdictions": {"type": "object", "description": "jurisdiction -> list of regions (stacks/platform.yaml)"},
        "tenants": {"type": "object", "description": "tenant -> jurisdiction, home_region, failover_regions"},
        "gpu": {
            "type": "object",
            "description": "overrides of components/capacity.py GPU_MINIMUMS: on_demand_base_min, "
            "on_demand_percentage_min/max, min_instance_types, min_families",
        },
    }
)


def _provider_inputs(provider: PolicyProviderResource | None) -> dict[str, Any]:
    return provider_inputs(provider.props if provider else {})


def _stack_of(urn: str) -> str:
    """`urn:pulumi:<stack>::<project>::<type>::<name>` -> `<stack>`."""
    return urn.split("::", 1)[0].removeprefix("urn:pulumi:") if urn.startswith("urn:pulumi:") else ""


def _context(
    stack: str, provider: PolicyProviderResource | None, config: Mapping[str, Any], kind: str = "regional"
) -> StackContext:
    inputs = _provider_inputs(provider)
    tags = (inputs.get("defaultTags") or {}).get("tags", {}) if isinstance(inputs.get("defaultTags"), dict) else {}
    region = str(inputs.get("region") or "")
    settings: PolicySettings = settings_from(dict(config))
    jurisdiction = tags.get("jurisdiction") or settings.jurisdiction_of(region) or ""
    providers = {provider.name: inputs} if provider else {}
    return StackContext(stack or tags.get("stack", ""), region, jurisdiction, providers, kind, settings)


def _waived(rule: Rule, props: Mapping[str, Any]) -> bool:
    tags = props.get("tags")
    reason = tags.get(f"{WAIVER_TAG_PREFIX}{rule.id}") if isinstance(tags, Mapping) else None
    return rule.waivable and bool(str(reason or "").strip())


def resource_validator(rule: Rule) -> Any:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type not in rule.resource_types or rule.check is None or _waived(rule, args.props):
            return
        context = _context(_stack_of(args.urn), args.provider, args.get_config())
        resource = Resource(
            type=args.resource_type,
            name=args.name,
            region=str(args.props.get("region") or context.region),
            provider=args.provider.name if args.provider else None,
            inputs=dict(args.props),
        )
        for message in rule.check(resource, context):
            report_violation(message, None)

    return validate


def graph_of(resources: list[PolicyResource], config: Mapping[str, Any]) -> tuple[Graph, StackContext]:
    """A `mlplat.graph/v1`-shaped graph of the stack. Ids are unknown in a preview, so each resource gets the
    graph's `<name>-id`, and an input that depends on another resource but has no value yet points at it."""
    ids = {id(r): f"{r.name}-id" for r in resources}
    entries: list[dict[str, Any]] = []
    providers: dict[str, PolicyProviderResource] = {}
    for resource in resources:
        inputs = dict(resource.props)
        for key, dependencies in resource.property_dependencies.items():
            if inputs.get(key) in (None, "") and len(dependencies) == 1 and id(dependencies[0]) in ids:
                inputs[key] = ids[id(dependencies[0])]
        if resource.provider is not None:
            providers[resource.provider.name] = resource.provider
        is_provider = resource.resource_type.startswith("pulumi:providers:")
        entries.append(
            {
                "type": resource.resource_type,
                "name": resource.name,
                "id": str(inputs.get("id") or ids[id(resource)]),
                "custom": True,
                "region": str(inputs.get("region") or ""),
                "provider": resource.provider.name if resource.provider else None,
                "parent": None,
                "inputs": provider_inputs(inputs) if is_provider else inputs,
            }
        )
    main = next(iter(providers.values()), None)
    stack = _stack_of(resources[0].urn) if resources else ""
    context = _context(stack, main, config)
    for entry in entries:
        provider = providers.get(str(entry["provider"]))
        if not entry["region"]:
            entry["region"] = str(_provider_inputs(provider).get("region") or context.region)
    known = {e["name"] for e in entries if e["type"].startswith("pulumi:providers:")}
    for name, provider in providers.items():
        if name not in known:
            entries.append({"type": provider.resource_type, "name": name, "id": f"{name}-id", "custom": True,
                            "region": context.region, "provider": None, "parent": None,
                            "inputs": _provider_inputs(provider)})  # fmt: skip
    regions = {e["region"] for e in entries if str(e["type"]).startswith("aws:")}
    is_global = "global" in (context.stack, context.jurisdiction, config.get("kind")) or len(regions) > 1
    kind = "global" if is_global else "regional"
    graph = Graph.of({"schema": GRAPH_SCHEMA, "stack": context.stack, "region": context.region,
                      "jurisdiction": context.jurisdiction, "kind": kind, "resources": entries})  # fmt: skip
    all_providers = {n: _provider_inputs(p) for n, p in providers.items()}
    return graph, replace(context, providers=all_providers, kind=kind)


def stack_validator(rule: Rule) -> Any:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        if rule.graph_check is None:
            return
        graph, context = graph_of(list(args.resources), args.get_config())
        urns = {(r.resource_type, r.name): r.urn for r in args.resources}
        for resource, message in rule.graph_check(graph, context):
            if _waived(rule, resource.inputs):
                continue
            report_violation(f"{resource.name}: {message}", urns.get(resource.key))

    return validate


def _level(rule: Rule) -> EnforcementLevel:
    return EnforcementLevel.MANDATORY if rule.level == "mandatory" else EnforcementLevel.ADVISORY


def policies() -> list[Policy]:
    """Every rule as a CrossGuard policy, named by its id."""
    built: list[Policy] = []
    for rule in RULES:
        if rule.check is not None:
            built.append(
                ResourceValidationPolicy(
                    name=rule.id,
                    description=rule.rationale,
                    validate=resource_validator(rule),
                    enforcement_level=_level(rule),
                    config_schema=CONFIG_SCHEMA,
                )
            )
        else:
            built.append(
                StackValidationPolicy(
                    name=rule.id,
                    description=rule.rationale,
                    validate=stack_validator(rule),
                    enforcement_level=_level(rule),
                    config_schema=CONFIG_SCHEMA,
                )
            )
    return built
