"""The rule engine: rules are pure functions over one resource or a whole stack graph, run offline by
`mlplat policy` and wrapped by the CrossGuard pack. No pulumi import, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Level = Literal["mandatory", "advisory"]
Resource = Mapping[str, Any]
Graph = Mapping[str, Any]


@dataclass(frozen=True)
class StackContext:
    """What a resource rule may know about the stack around it."""

    stack: str
    region: str
    jurisdiction: str
    providers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # provider name -> its inputs

    def effective_tags(self, resource: Resource) -> dict[str, str]:
        """Tags the resource will carry in AWS: its provider's default tags overlaid by its own."""
        provider = self.providers.get(resource.get("provider") or "", {})
        default_tags = provider.get("defaultTags") or {}
        inherited = default_tags.get("tags", {}) if isinstance(default_tags, Mapping) else {}
        own = resource.get("inputs", {}).get("tags") or {}
        return {**inherited, **own}


ResourceCheck = Callable[[Resource, StackContext], Iterable[str]]
GraphCheck = Callable[[Graph], Iterable[tuple[Resource, str]]]


@dataclass(frozen=True)
class Rule:
    """One policy. `check` yields a message per violation; an empty result means compliant."""

    id: str
    level: Level
    rationale: str
    resource_types: frozenset[str] = frozenset()  # resource rules: the types they look at
    check: ResourceCheck | None = None
    graph_check: GraphCheck | None = None


@dataclass(frozen=True)
class Violation:
    rule: str
    level: Level
    stack: str
    resource_type: str
    resource_name: str
    message: str
    source: str = "crossguard"

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "level": self.level,
            "source": self.source,
            "stack": self.stack,
            "resource": {"type": self.resource_type, "name": self.resource_name},
            "message": self.message,
        }


class RuleRegistry:
    def __init__(self) -> None:
        self._rules: dict[str, Rule] = {}

    def resource_rule(
        self, rule_id: str, level: Level, rationale: str, types: Sequence[str]
    ) -> Callable[[ResourceCheck], ResourceCheck]:
        def register(check: ResourceCheck) -> ResourceCheck:
            self._add(Rule(rule_id, level, rationale, resource_types=frozenset(types), check=check))
            return check

        return register

    def graph_rule(self, rule_id: str, level: Level, rationale: str) -> Callable[[GraphCheck], GraphCheck]:
        def register(check: GraphCheck) -> GraphCheck:
            self._add(Rule(rule_id, level, rationale, graph_check=check))
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


def context_of(graph: Graph) -> StackContext:
    providers = {
        r["name"]: r.get("inputs", {}) for r in graph["resources"] if str(r["type"]).startswith("pulumi:providers:")
    }
    return StackContext(graph["stack"], graph["region"], graph["jurisdiction"], providers)


def evaluate(graph: Graph, rules: Iterable[Rule]) -> list[Violation]:
    """Runs every rule over one stack graph."""
    context = context_of(graph)
    violations: list[Violation] = []
    for rule in rules:
        if rule.check is not None:
            for resource in graph["resources"]:
                if resource["type"] in rule.resource_types:
                    violations.extend(
                        Violation(rule.id, rule.level, context.stack, resource["type"], resource["name"], message)
                        for message in rule.check(resource, context)
                    )
        if rule.graph_check is not None:
            violations.extend(
                Violation(rule.id, rule.level, context.stack, resource["type"], resource["name"], message)
                for resource, message in rule.graph_check(graph)
            )
    return violations
