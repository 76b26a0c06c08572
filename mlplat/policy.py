"""Runs the policy rules over stack graphs and renders the report (`mlplat.policy/v1`, DESIGN.md section 6)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from policies.engine import Violation, evaluate
from policies.rules import RULES

POLICY_SCHEMA = "mlplat.policy/v1"


@dataclass(frozen=True)
class PolicyReport:
    violations: list[Violation]
    stacks: list[str]

    @property
    def mandatory(self) -> int:
        return sum(v.level == "mandatory" for v in self.violations)

    @property
    def advisory(self) -> int:
        return sum(v.level == "advisory" for v in self.violations)

    def as_json(self) -> dict[str, Any]:
        return {
            "schema": POLICY_SCHEMA,
            "stacks": self.stacks,
            "violations": [v.as_json() for v in self.violations],
            "summary": {"mandatory": self.mandatory, "advisory": self.advisory},
        }

    def render(self, fmt: str) -> str:
        if fmt == "json":
            return json.dumps(self.as_json(), indent=2)
        lines = [
            f"{v.level.upper():<9} {v.rule}  [{v.stack}] {v.resource_type} {v.resource_name}: {v.message}"
            for v in self.violations
        ]
        lines.append(
            f"policy: {len(self.stacks)} stack(s), {self.mandatory} mandatory and {self.advisory} advisory "
            f"violation(s) - {'FAILED' if self.mandatory else 'passed'}"
        )
        return "\n".join(lines)


def run_policies(graphs: Iterable[Mapping[str, Any]]) -> PolicyReport:
    violations: list[Violation] = []
    stacks: list[str] = []
    for graph in graphs:
        stacks.append(str(graph["stack"]))
        violations.extend(evaluate(graph, RULES))
    return PolicyReport(violations, stacks)
