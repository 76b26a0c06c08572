"""The one registry every rule family adds to, and the small helpers rules share.

Ids follow Pulumi's compliance naming, `aws-<service>-<resource>-<rule>`; platform-wide rules use `mlplat-`.
"""

from __future__ import annotations

from typing import Any

from policies.engine import Resource, RuleRegistry

RULES = RuleRegistry()

REQUIRED_TAGS = ("owner", "cost-center", "jurisdiction", "stack")
PUBLIC_CIDRS = frozenset({"0.0.0.0/0", "::/0"})
WAIVER_TAG_PREFIX = "mlplat:waive:"


def inputs_of(resource: Resource) -> dict[str, Any]:
    return dict(resource.get("inputs") or {})


def first(value: Any) -> dict[str, Any]:
    """A nested object as the SDK sends it: a mapping, or a one-element list of one (Terraform's block shape)."""
    if isinstance(value, list):
        value = value[0] if value else {}
    return dict(value) if isinstance(value, dict) else {}
