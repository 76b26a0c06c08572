"""The resource graph (`mlplat.graph/v1`, DESIGN.md section 5): one typed reader and writer for every tool.

`mlplat synth` writes graphs through `Graph.as_json`; the policy rules, the checkov adapter, the residency report
and the cost estimate read them through `Graph`, `Resource` and `GraphIndex`. A `Resource` also reads as the JSON
entry it came from (`resource["inputs"]`), so a rule may treat it as a mapping. No pulumi import, no I/O beyond
`load_graph`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GRAPH_SCHEMA = "mlplat.graph/v1"
REQUIRED_GRAPH_FIELDS = ("schema", "stack", "region", "jurisdiction", "resources")
IN_MEMORY_FIELDS = ("stack", "region", "resources")
REQUIRED_RESOURCE_FIELDS = ("type", "name", "inputs")
# Inputs that hold a resource's physical name, by which other resources point at it.
_NAME_INPUTS = ("bucket", "name", "clusterName", "repositoryName", "replicationGroupId", "identifier")
# Fields of a resource entry with a typed attribute; anything else is kept as it was read.
_KNOWN_FIELDS = frozenset({"type", "name", "id", "custom", "region", "provider", "parent", "dependsOn", "inputs"})


class GraphError(ValueError):
    """A graph file or entry that is not of the `mlplat.graph/v1` shape; the message names where."""


def tags_of(inputs: Mapping[str, Any]) -> dict[str, str]:
    """The `tags` input as a map, read from either form the SDK sends: a map, or the Auto Scaling group tag list
    `[{key, value, propagateAtLaunch}]`."""
    tags = inputs.get("tags")
    if isinstance(tags, Mapping):
        return {str(k): "" if v is None else str(v) for k, v in tags.items()}
    if isinstance(tags, list):
        return {
            str(t["key"]): "" if t.get("value") is None else str(t["value"])
            for t in tags
            if isinstance(t, Mapping) and "key" in t
        }
    return {}


def provider_inputs(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A provider's inputs as a graph holds them: the engine passes nested objects as JSON strings (`defaultTags`)
    and booleans as `"true"`/`"false"`; both are decoded."""
    return {str(key): _decode_provider_value(value) for key, value in raw.items()}


def _decode_provider_value(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    if value in ("true", "false"):
        return value == "true"
    return value


@dataclass(frozen=True, eq=False)
class Resource(Mapping[str, Any]):
    """One entry of a graph: a cloud resource, a Kubernetes object, a provider or a component."""

    type: str
    name: str
    inputs: Mapping[str, Any] = field(default_factory=dict)
    region: str | None = None
    provider: str | None = None
    parent: str | None = None
    custom: bool = True
    id: str | None = None
    depends_on: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)  # fields this reader does not know, kept on write

    @classmethod
    def of(cls, entry: Resource | Mapping[str, Any]) -> Resource:
        """A `Resource` from a graph entry (a JSON object); a `Resource` is returned as it is."""
        if isinstance(entry, Resource):
            return entry
        inputs = entry.get("inputs")
        return cls(
            type=str(entry["type"]),
            name=str(entry["name"]),
            inputs=dict(inputs) if isinstance(inputs, Mapping) else {},
            region=None if entry.get("region") is None else str(entry["region"]),
            provider=entry.get("provider") or None,
            parent=entry.get("parent") or None,
            custom=bool(entry.get("custom", True)),
            id=None if entry.get("id") is None else str(entry["id"]),
            depends_on=tuple(str(d) for d in entry.get("dependsOn") or ()),
            extra={k: v for k, v in entry.items() if k not in _KNOWN_FIELDS},
        )

    @property
    def tags(self) -> dict[str, str]:
        """The resource's own tags (either SDK form); a provider's default tags are not included."""
        return tags_of(self.inputs)

    @property
    def is_provider(self) -> bool:
        return self.type.startswith("pulumi:providers:")

    @property
    def is_cloud(self) -> bool:
        """A custom AWS resource: not a provider, not a component, not a Kubernetes object."""
        return self.custom and self.type.startswith("aws:")

    @property
    def service(self) -> str:
        """`aws:ec2/vpc:Vpc` -> `ec2`."""
        return self.type.split(":")[1].split("/", maxsplit=1)[0] if ":" in self.type else ""

    @property
    def key(self) -> tuple[str, str]:
        """`(type, name)`, unique within a stack."""
        return self.type, self.name

    def handles(self) -> set[str]:
        """The strings other resources use to point at this one: its name, id and physical name inputs."""
        found = {self.name}
        if self.id:
            found.add(self.id)
        for key in _NAME_INPUTS:
            value = self.inputs.get(key)
            if isinstance(value, str) and value:
                found.add(value)
        return found

    def as_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": self.type, "name": self.name}
        if self.id is not None:
            entry["id"] = self.id
        entry |= {
            "custom": self.custom,
            "region": self.region,
            "provider": self.provider,
            "parent": self.parent,
            "dependsOn": list(self.depends_on),
            "inputs": dict(self.inputs),
        }
        return entry | dict(self.extra)

    # -- read as the JSON entry ----------------------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self._json()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._json())

    def __len__(self) -> int:
        return len(self._json())

    def _json(self) -> dict[str, Any]:
        cached: dict[str, Any] | None = self.__dict__.get("_cached_json")
        if cached is None:
            cached = self.as_json()
            object.__setattr__(self, "_cached_json", cached)
        return cached


@dataclass(frozen=True, eq=False)
class Graph(Mapping[str, Any]):
    """One stack's graph. Reads as its JSON document too (`graph["resources"]` is the list of `Resource`)."""

    stack: str
    region: str
    jurisdiction: str
    resources: tuple[Resource, ...]
    kind: str = "regional"
    project: str = "mlplat"
    invokes: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def of(cls, document: Graph | Mapping[str, Any]) -> Graph:
        """A `Graph` from a document built in memory (a file goes through `load_graph`, which also requires the
        schema and the jurisdiction); a `Graph` is returned as it is."""
        if isinstance(document, Graph):
            return document
        check_document(document, required=IN_MEMORY_FIELDS)
        return cls(
            stack=str(document["stack"]),
            region=str(document["region"]),
            jurisdiction=str(document.get("jurisdiction") or ""),
            resources=tuple(Resource.of(r) for r in document["resources"]),
            kind=str(document.get("kind") or "regional"),
            project=str(document.get("project") or "mlplat"),
            invokes=tuple(document.get("invokes") or ()),
        )

    @property
    def providers(self) -> dict[str, Mapping[str, Any]]:
        """Provider name -> its inputs (region, default tags)."""
        return {r.name: r.inputs for r in self.resources if r.is_provider}

    def cloud_resources(self) -> Iterator[Resource]:
        return (r for r in self.resources if r.is_cloud)

    def effective_tags(self, resource: Resource) -> dict[str, str]:
        """Tags the resource carries in AWS: its provider's default tags overlaid by its own."""
        default_tags = self.providers.get(resource.provider or "", {}).get("defaultTags") or {}
        inherited = default_tags.get("tags", {}) if isinstance(default_tags, Mapping) else {}
        return {**{str(k): str(v) for k, v in inherited.items()}, **resource.tags}

    def as_json(self) -> dict[str, Any]:
        return {
            "schema": GRAPH_SCHEMA,
            "project": self.project,
            "stack": self.stack,
            "region": self.region,
            "jurisdiction": self.jurisdiction,
            "kind": self.kind,
            "resources": [r.as_json() for r in self.resources],
            "invokes": [dict(i) for i in self.invokes],
        }

    def dumps(self) -> str:
        return json.dumps(self.as_json(), indent=1, sort_keys=False) + "\n"

    # -- read as the JSON document -------------------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        if key == "resources":
            return list(self.resources)
        if key == "schema":
            return GRAPH_SCHEMA
        if key in {"stack", "region", "jurisdiction", "kind", "project"}:
            return getattr(self, key)
        if key == "invokes":
            return list(self.invokes)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(("schema", "project", "stack", "region", "jurisdiction", "kind", "resources", "invokes"))

    def __len__(self) -> int:
        return 8


def check_document(document: Any, where: str = "graph", required: Sequence[str] = REQUIRED_GRAPH_FIELDS) -> None:
    """Raises `GraphError` unless `document` has the `mlplat.graph/v1` shape (a schema, when given, must be ours)."""
    if not isinstance(document, Mapping):
        raise GraphError(f"{where}: not a {GRAPH_SCHEMA} graph (got {type(document).__name__})")
    if ("schema" in required or "schema" in document) and document.get("schema") != GRAPH_SCHEMA:
        raise GraphError(f"{where}: not a {GRAPH_SCHEMA} graph (schema is {document.get('schema')!r})")
    for name in required:
        if name not in document:
            raise GraphError(f"{where}: missing field {name!r}")
    if not isinstance(document["resources"], list):
        raise GraphError(f"{where}: `resources` must be a list")
    for index, entry in enumerate(document["resources"]):
        if not isinstance(entry, Mapping) or not all(k in entry for k in REQUIRED_RESOURCE_FIELDS):
            raise GraphError(f"{where}: resources[{index}] needs {', '.join(REQUIRED_RESOURCE_FIELDS)}")


def load_graph(path: Path) -> Graph:
    """Reads and checks a graph file; any file of the `mlplat.graph/v1` shape is accepted, edited ones too."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise GraphError(f"{path}: no such graph file") from None
    except json.JSONDecodeError as exc:
        raise GraphError(f"{path}: not valid JSON: {exc}") from None
    check_document(document, str(path))
    return Graph.of(document)


# -- references between resources ---------------------------------------------------------------------------


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


def _service_matches(resource: Resource, service: str) -> bool:
    module = resource.service
    return module == service or (service == "logs" and module == "cloudwatch") or (service == "ec2" and module == "vpc")


class GraphIndex:
    """Lookups over the cloud resources of one or more graphs: by type, by name, and by reference (the id, the
    physical name, or an ARN that ends in one of them) as another resource's inputs hold it."""

    def __init__(self, graphs: Iterable[Graph | Mapping[str, Any]]) -> None:
        self.graphs = [Graph.of(g) for g in graphs]
        self.resources: list[Resource] = []
        self._graph_of: dict[int, Graph] = {}
        self._by_handle: dict[str, list[Resource]] = {}
        for graph in self.graphs:
            for resource in graph.cloud_resources():
                self.resources.append(resource)
                self._graph_of[id(resource)] = graph
                for handle in resource.handles():
                    self._by_handle.setdefault(handle, []).append(resource)

    @classmethod
    def of(cls, *graphs: Graph | Mapping[str, Any]) -> GraphIndex:
        return cls(graphs)

    def graph_of(self, resource: Resource) -> Graph:
        """The graph (stack) a resource of this index belongs to."""
        return self._graph_of[id(resource)]

    def of_type(self, *types: str) -> Iterator[Resource]:
        return (r for r in self.resources if r.type in types)

    def named(self, name: str, *types: str) -> list[Resource]:
        """Resources with this logical name (one per stack at most for a given type)."""
        return [r for r in self.resources if r.name == name and (not types or r.type in types)]

    def resolve(self, value: Any, types: Sequence[str] = ()) -> Resource | None:
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
            if value.startswith("arn:aws:s3:::"):
                tail = value.removeprefix("arn:aws:s3:::").split("/", 1)[0]
            candidates = list(self._by_handle.get(tail or "", []))
            service = arn_service(value)
        if types:
            candidates = [c for c in candidates if c.type in types]
        if service and len(candidates) > 1:
            same_service = [c for c in candidates if _service_matches(c, service)]
            candidates = same_service or candidates
        return candidates[0] if candidates else None

    def referencing(self, target: Resource, types: Sequence[str], key: str) -> Iterator[Resource]:
        """Resources of `types` whose input `key` points at `target`."""
        for resource in self.of_type(*types):
            if self.resolve(resource.inputs.get(key)) is target:
                yield resource


# -- documents inside inputs ---------------------------------------------------------------------------------


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
    """The statements of a policy document (a single statement object counts as a list of one)."""
    if not document:
        return []
    raw = document.get("Statement", [])
    return [dict(s) for s in (raw if isinstance(raw, list) else [raw]) if isinstance(s, Mapping)]


def as_list(value: Any) -> list[Any]:
    """An input that may be one value or a list of them, as a list (None is empty)."""
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]
