"""Pulumi inputs (camelCase, nested objects, tag maps) turned into AWS API parameters by reading botocore's own
service model, so one converter serves every mapping and a name that matches no API member is reported, not lost."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape

PULUMI_SECRET_SIG = "4dabf18193072939515e22adb298388d"  # marks a secret value in Pulumi's wire format


def unwrap_secrets(value: Any) -> Any:
    """`{<sig>: <secret sig>, "value": x}` (how a mocked Pulumi secret is recorded) becomes `x`."""
    if isinstance(value, Mapping):
        if PULUMI_SECRET_SIG in value and "value" in value:
            return unwrap_secrets(value["value"])
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


@dataclass
class Converted:
    params: dict[str, Any] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)  # dotted Pulumi input paths with no API member


def _member(shape: StructureShape, key: str) -> str | None:
    lowered = key.lower()
    for name in shape.members:
        if name.lower() == lowered:
            return name
    return None


def _tag_members(shape: Shape) -> tuple[str, str] | None:
    """(key member, value member) when `shape` is a list of tag structures (Key/Value, TagKey/TagValue, key/value)."""
    if not isinstance(shape, ListShape) or not isinstance(shape.member, StructureShape):
        return None
    names = {n.lower(): n for n in shape.member.members}
    for key, value in (("key", "value"), ("tagkey", "tagvalue")):
        if key in names and value in names and len(names) <= 3:
            return names[key], names[value]
    return None


def convert(shape: Shape, value: Any, path: str, unmatched: list[str]) -> Any:
    """`value` shaped as `shape`: members matched case-insensitively, scalars coerced, tag maps made tag lists."""
    if isinstance(shape, StructureShape):
        if isinstance(value, list) and len(value) == 1:  # Pulumi's one-block lists (`encryptionConfigurations`)
            value = value[0]
        if not isinstance(value, Mapping):
            return value
        out = {}
        for key, item in value.items():
            member = _member(shape, key)
            if member is None:
                unmatched.append(f"{path}.{key}".lstrip("."))
                continue
            out[member] = convert(shape.members[member], item, f"{path}.{key}", unmatched)
        return out
    if isinstance(shape, ListShape):
        tag = _tag_members(shape)
        if tag and isinstance(value, Mapping):
            return [{tag[0]: str(k), tag[1]: str(v)} for k, v in value.items()]
        items = value if isinstance(value, list) else [value]
        return [convert(shape.member, item, path, unmatched) for item in items]
    if isinstance(shape, MapShape):
        return dict(value) if isinstance(value, Mapping) else value
    return _scalar(shape.type_name, value)


def _scalar(type_name: str, value: Any) -> Any:
    if type_name == "boolean" and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if type_name in ("integer", "long") and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    if type_name == "string":
        if isinstance(value, Mapping | list):
            return json.dumps(value)
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, int | float):
            return str(value)
    return value


def to_params(
    operation: OperationModel,
    inputs: Mapping[str, Any],
    renames: Mapping[str, str] | None = None,
) -> Converted:
    """The operation's parameters from Pulumi `inputs` (top-level names first through `renames`)."""
    result = Converted()
    shape = operation.input_shape
    if shape is None:
        result.unmatched.extend(inputs)
        return result
    renames = renames or {}
    for key, value in inputs.items():
        member = renames.get(key) or _member(shape, key)
        if member is None or member not in shape.members:
            result.unmatched.append(key)
            continue
        result.params[member] = convert(shape.members[member], value, key, result.unmatched)
    return result
