"""Finds which resource a value in another resource's inputs points at: by id, by name or by ARN.

A graph stores inputs as the SDK sent them, so a reference is the referenced resource's id (`<name>-id` under
mocks), its physical name (`bucket`, `name`) or an ARN ending in one of those. Shared by graph rules and the
checkov adapter. No pulumi import.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

Resource = Mapping[str, Any]

_NAME_INPUTS = ("bucket", "name", "clusterName", "repositoryName", "replicationGroupId", "identifier")


def is_cloud_resource(resource: Resource) -> bool:
    """A custom AWS resource: not a provider, not a component."""
    return bool(resource.get("custom", True)) and str(resource.get("type", "")).startswith("aws:")


def handles(resource: Resource) -> set[str]:
    """The strings other resources use to point at this one."""
    inputs = resource.get("inputs") or {}
    found = {str(resource["name"])}
    if resource.get("id"):
        found.add(str(resource["id"]))
    for key in _NAME_INPUTS:
        value = inputs.get(key)
        if isinstance(value, str) and value:
            found.add(value)
    return found


def arn_tail(value: str) -> str | None:
    """`arn:aws:kms:eu-west-1:1:key/k` -> `k`; `arn:aws:logs:r:1:log-group:/a/b` -> `/a/b`; `arn:aws:s3:::b` -> `b`."""
    if not value.startswith("arn:"):
        return None
    parts = value.split(":", 5)
    if len(parts) < 6:
        return None
    rest = parts[5]
    for prefix in ("log-group:", "key/", "role/", "policy/", "repository/", "cluster/", "db:", "replicationgroup:"):
        if rest.startswith(prefix):
            return rest[len(prefix) :].removesuffix(":*")
    return rest.rsplit("/", 1)[-1] if "/" in rest else rest.rsplit(":", 1)[-1]


def arn_service(value: str) -> str | None:
    parts = value.split(":", 5)
    return parts[2] if value.startswith("arn:") and len(parts) > 2 else None


class GraphIndex:
    """Reference resolution over one graph's cloud resources."""

    def __init__(self, resources: list[Resource]) -> None:
        self.resources = [r for r in resources if is_cloud_resource(r)]
        self._by_handle: dict[str, list[Resource]] = {}
        for resource in self.resources:
            for handle in handles(resource):
                self._by_handle.setdefault(handle, []).append(resource)

    @classmethod
    def of(cls, graph: Mapping[str, Any]) -> GraphIndex:
        return cls(list(graph["resources"]))

    def resolve(self, value: Any, types: tuple[str, ...] = ()) -> Resource | None:
        """The resource `value` points at, restricted to `types` when given; None when it points at none."""
        if not isinstance(value, str) or not value:
            return None
        candidates = list(self._by_handle.get(value, []))
        if not candidates and "-" in value and not value.startswith("arn:"):
            # AWS-style ids the mocks hand out for attributes other than `id` (`eipalloc-<name>`)
            prefix, rest = value.split("-", 1)
            candidates = list(self._by_handle.get(rest, [])) if prefix.isalpha() and prefix.islower() else []
        service = None
        if not candidates and value.startswith("arn:"):
            tail = arn_tail(value)
            candidates = list(self._by_handle.get(tail or "", []))
            service = arn_service(value)
        if types:
            candidates = [c for c in candidates if c["type"] in types]
        if service and len(candidates) > 1:
            same_service = [c for c in candidates if _service_matches(str(c["type"]), service)]
            candidates = same_service or candidates
        return candidates[0] if candidates else None

    def of_type(self, *types: str) -> Iterator[Resource]:
        return (r for r in self.resources if r["type"] in types)

    def referencing(self, target: Resource, types: tuple[str, ...], key: str) -> Iterator[Resource]:
        """Resources of `types` whose input `key` points at `target`."""
        for resource in self.of_type(*types):
            if self.resolve((resource.get("inputs") or {}).get(key)) is target:
                yield resource


def _service_matches(type_token: str, service: str) -> bool:
    module = type_token.split(":")[1].split("/", maxsplit=1)[0] if ":" in type_token else ""
    return module == service or (service == "logs" and module == "cloudwatch") or (service == "ec2" and module == "vpc")


def policy_document(value: Any) -> dict[str, Any] | None:
    """An IAM/resource policy given as a JSON string or a mapping; None when it is neither."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            document = json.loads(value)
        except json.JSONDecodeError:
            return None
        return document if isinstance(document, dict) else None
    return None


def statements(document: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if not document:
        return []
    raw = document.get("Statement", [])
    return [s for s in (raw if isinstance(raw, list) else [raw]) if isinstance(s, dict)]


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]
