"""The rule engine: rules are pure functions over one resource or a whole stack graph, run offline by
`mlplat policy` and wrapped by the CrossGuard pack. No pulumi import, no I/O.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from mlplat.graph import Graph, Resource
from policies.settings import PolicySettings

Level = Literal["mandatory", "advisory"]


@dataclass(frozen=True)
class StackContext:
    """What a rule may know about the stack around it."""

    stack: str
    region: str
    jurisdiction: str
    providers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # provider name -> its inputs
    kind: str = "regional"
    settings: PolicySettings = field(default_factory=PolicySettings)

    def effective_tags(self, resource: Resource) -> dict[str, str]:
        """Tags the resource will carry in AWS: its provider's default tags overlaid by its own."""
        provider = self.providers.get(resource.provider or "", {})
        default_tags = provider.get("defaultTags") or {}
        inherited = default_tags.get("tags", {}) if isinstance(default_tags, Mapping) else {}
        return {**{str(k): str(v) for k, v in inherited.items()}, **resource.tags}


ResourceCheck = Callable[[Resource, StackContext], Iterable[str]]
GraphCheck = Callable[[Graph, StackContext], Iterable[tuple[Resource, str]]]


@dataclass(frozen=True)
class Rule:
    """One policy. `check` yields a message per violation; an empty result means compliant."""

    id: str
    level: Level
    rationale: str
    family: str = "general"
    resource_types: frozenset[str] = frozenset()  # resource rules: the types they look at
    check: ResourceCheck | None = None
    graph_check: GraphCheck | None = None
    waivable: bool = True


@dataclass(frozen=True)
class Violation:
    rule: str
    level: Level
    stack: str
    resource_type: str
    resource_name: str
    message: str
    source: str = "crossguard"
    file: str | None = None  # where the finding points, when it comes from a file (checkov on infra/, Dockerfiles)
    line: int | None = None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "rule": self.rule,
            "level": self.level,
            "source": self.source,
            "stack": self.stack,
            "resource": {"type": self.resource_type, "name": self.resource_name},
            "message": self.message,
        }
        if self.file:
            data["file"] = self.file
            if self.line:
                data["line"] = self.line
        return data


class RuleRegistry:
    def __init__(self) -> None:
        self._rules: dict[str, Rule] = {}

    def resource_rule(
        self, rule_id: str, level: Level, rationale: str, types: Sequence[str], family: str = "general"
    ) -> Callable[[ResourceCheck], ResourceCheck]:
        def register(check: ResourceCheck) -> ResourceCheck:
            self._add(Rule(rule_id, level, rationale, family, resource_types=frozenset(types), check=check))
            return check

        return register

    def graph_rule(
        self, rule_id: str, level: Level, rationale: str, family: str = "general", waivable: bool = True
    ) -> Callable[[Any], Any]:
        """Registers `check(graph, context)`; a one-argument `check(graph)` is accepted too."""

        def register(check: Any) -> Any:
            graph_check = check
            if len(inspect.signature(check).parameters) == 1:

                def graph_check(graph: Graph, _: StackContext) -> Iterable[tuple[Resource, str]]:
                    return check(graph)

            self._add(Rule(rule_id, level, rationale, family, graph_check=graph_check, waivable=waivable))
            return check

        return register

    def _add(self, rule: Rule) -> None:
        if rule.id in self._rules:
            raise ValueError(f"rule {rule.id} is registered twice")
        self._rules[rule.id] = rule

    def __iter__(self) -> Iterator[Rule]:
        return iter(self._rules.values())

    def __getitem__(self, rule_id: str) -> Rule:
        return self._rules[rule_id]

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._rules

    def __len__(self) -> int:
        return len(self._rules)


def context_of(graph: Graph, settings: PolicySettings | None = None) -> StackContext:
    return StackContext(
        graph.stack,
        graph.region,
        graph.jurisdiction,
        graph.providers,
        kind=graph.kind,
        settings=settings or PolicySettings(),
    )


def evaluate(
    graph: Graph | Mapping[str, Any], rules: Iterable[Rule], settings: PolicySettings | None = None
) -> list[Violation]:
    """Runs every rule over one stack graph (waivers are applied afterwards, by `policies.waivers`)."""
    graph = Graph.of(graph)
    context = context_of(graph, settings)
    violations: list[Violation] = []
    for rule in rules:
        if rule.check is not None:
            for resource in graph.resources:
                if resource.type in rule.resource_types:
                    violations.extend(
                        Violation(rule.id, rule.level, context.stack, resource.type, resource.name, message)
                        for message in rule.check(resource, context)
                    )
        if rule.graph_check is not None:
            violations.extend(
                Violation(rule.id, rule.level, context.stack, resource.type, resource.name, message)
                for resource, message in rule.graph_check(graph, context)
            )
    return violations
