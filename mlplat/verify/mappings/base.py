"""The registry of emulations and the helpers every mapping uses (tags, read-back of one item, documents)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mlplat.verify.step import Refused, Step

Outputs = dict[str, Any]
Create = Callable[[Step], Outputs]
Read = Callable[[Step, Outputs], None]

# Inputs only the provider acts on, never a create parameter.
ON_DELETE = "acted on by the provider at deletion; no create API takes it"
ON_UPDATE = "acted on by the provider when updating (a modify call); no create API takes it"


@dataclass(frozen=True)
class Emulation:
    create: Create
    read: Read
    provider_only: Mapping[str, str] = field(default_factory=dict)  # Pulumi input -> why no API call takes it


MAPPINGS: dict[str, Emulation] = {}


def emulation(type_token: str, read: Read, **provider_only: str) -> Callable[[Create], Create]:
    def register(create: Create) -> Create:
        MAPPINGS[type_token] = Emulation(create, read, provider_only)
        return create

    return register


def ec2_tags(step: Step, resource_type: str) -> list[dict[str, Any]]:
    tags = step.get("tags") or {}
    return (
        [{"ResourceType": resource_type, "Tags": [{"Key": k, "Value": str(v)} for k, v in tags.items()]}]
        if tags
        else []
    )


def tag_list(step: Step, key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [{key: k, value: str(v)} for k, v in (step.get("tags") or {}).items()]


def first(items: list[Any], what: str) -> Any:
    if not items:
        raise Refused(what, "read back nothing")
    return items[0]


def document(document: Any) -> Any:
    return json.loads(document) if isinstance(document, str) else document
