"""Waivers: a resource waives a rule (ours or a checkov id) with a reason, by a `mlplat:waive:<rule>` tag or by an
entry in `policies/config.yaml`. Waived findings leave the verdict but stay in the report; a waiver without a reason
waives nothing and is itself a mandatory finding (`mlplat-waiver-reason`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mlplat.graph import Graph, Resource
from policies.engine import Violation
from policies.rules import RULES, WAIVER_TAG_PREFIX
from policies.settings import ConfigWaiver, PolicySettings

WAIVER_RULE = "mlplat-waiver-reason"
CONFIG_FILE = "policies/config.yaml"


@dataclass(frozen=True)
class Waiver:
    """A finding that a waiver set aside, and why."""

    violation: Violation
    reason: str
    via: str  # "tag", "config" or "checkov-skip" (an inline `#checkov:skip=ID:reason` comment)

    def as_json(self) -> dict[str, Any]:
        return {**self.violation.as_json(), "reason": self.reason, "via": self.via}


def tag_waivers(resource: Resource) -> dict[str, str]:
    """rule id -> reason, from the resource's own `mlplat:waive:<rule>` tags (empty reasons included)."""
    return {
        key[len(WAIVER_TAG_PREFIX) :]: value.strip()
        for key, value in resource.tags.items()
        if key.startswith(WAIVER_TAG_PREFIX)
    }


def _config_match(waiver: ConfigWaiver, violation: Violation) -> bool:
    return (
        waiver.rule == violation.rule
        and fnmatch.fnmatchcase(violation.stack, waiver.stack)
        and fnmatch.fnmatchcase(violation.resource_name, waiver.resource)
    )


def apply_waivers(
    violations: Iterable[Violation], graphs: Iterable[Mapping[str, Any]], settings: PolicySettings
) -> tuple[list[Violation], list[Waiver]]:
    """Splits findings into those that stand and those waived; adds a finding for each waiver without a reason."""
    tags: dict[tuple[str, str, str], dict[str, str]] = {}
    for graph in map(Graph.of, graphs):
        for resource in graph.resources:
            found = tag_waivers(resource)
            if found:
                tags[(graph.stack, resource.type, resource.name)] = found
    standing: list[Violation] = []
    waived: list[Waiver] = []
    for violation in violations:
        if violation.rule in RULES and not RULES[violation.rule].waivable:
            standing.append(violation)
            continue
        reason = tags.get((violation.stack, violation.resource_type, violation.resource_name), {}).get(violation.rule)
        if reason:
            waived.append(Waiver(violation, reason, "tag"))
            continue
        config = next((w for w in settings.waivers if w.reason and _config_match(w, violation)), None)
        if config is not None:
            waived.append(Waiver(violation, config.reason, "config"))
            continue
        standing.append(violation)
    standing.extend(
        Violation(
            WAIVER_RULE,
            "mandatory",
            w.stack,
            "mlplat:policy/waiver",
            f"waivers[{w.index}]",
            f"config waiver of {w.rule or '(no rule)'} for {w.resource} has no reason",
            file=CONFIG_FILE,
        )
        for w in settings.waivers
        if not w.reason or not w.rule
    )
    return standing, waived
