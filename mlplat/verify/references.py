"""References between resources in a synthesized graph: which mock output (`<name>-id`, an ARN, a key id) each
resource would have produced, the creation order they imply, and their substitution by what the emulator returned."""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mlplat.graph import Resource
from mlplat.synth import GraphRecorder

IDENTITY_OUTPUTS = ("arn", "keyId", "allocationId", "name", "bucket", "url", "nodeGroupName")
_MOCK_ID = re.compile(r"^[a-z0-9][a-z0-9-]*-id$")


def key_of(resource: Resource | Mapping[str, Any]) -> str:
    """`type::name`, as graphs spell a dependency."""
    resource = Resource.of(resource)
    return f"{resource.type}::{resource.name}"


def mock_outputs(stack: str, entry: Resource | Mapping[str, Any]) -> dict[str, str]:
    """The identity outputs the synth mocks gave a resource (what other resources' inputs hold as references)."""
    resource = Resource.of(entry)
    recorder = GraphRecorder(stack)
    state = recorder._state(resource.type, resource.name, dict(resource.inputs), resource.region)
    outputs = {"id": resource.id or f"{resource.name}-id"}
    outputs.update({k: str(state[k]) for k in IDENTITY_OUTPUTS if isinstance(state.get(k), str | int)})
    return outputs


def _strings(value: Any, skip: frozenset[str] = frozenset({"tags", "tagsAll"})) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if key not in skip:
                yield from _strings(item, skip)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, skip)


class ReferenceTable:
    """Mock output -> (resource key, output name); after creation, mock output -> real value."""

    def __init__(self) -> None:
        self.owners: dict[str, list[str]] = {}  # in graph order; the first is the one a reference means
        self.real: dict[str, str] = {}
        self._arn_pattern: re.Pattern[str] | None = None

    def add(self, key: str, outputs: Mapping[str, str]) -> None:
        for value in outputs.values():
            if value and key not in self.owners.setdefault(value, []):
                self.owners[value].append(key)
        self._arn_pattern = None

    def owner(self, value: str, referrer: str) -> str | None:
        """The resource a mock output means: several resources of different types share a name and so a mock id
        (`<name>-id`); the first declared one (the role, the bucket) is what the others' references mean."""
        return next((key for key in self.owners.get(value, ()) if key != referrer), None)

    def references(self, inputs: Mapping[str, Any], referrer: str = "") -> set[str]:
        """Keys of the resources whose outputs `inputs` use, whole or inside a document (policies)."""
        found: set[str | None] = set()
        for text in _strings(inputs):
            if text in self.owners:
                found.add(self.owner(text, referrer))
            elif "arn:" in text:
                found.update(self.owner(m.group(0), referrer) for m in self._arns().finditer(text))
        return {key for key in found if key}

    def dangling(self, inputs: Mapping[str, Any]) -> list[str]:
        """Mock ids (`<name>-id`) that no resource in the graphs produces: a reference to nothing."""
        return sorted({t for t in _strings(inputs) if _MOCK_ID.match(t) and t not in self.owners})

    def learn(self, key: str, mock: Mapping[str, str], real: Mapping[str, Any]) -> None:
        for name, value in real.items():
            token = mock.get(name)
            if token and value is not None and str(value) != token and self.owners.get(token, [key])[0] == key:
                self.real[token] = str(value)
        self._arn_pattern = None

    def resolve(self, value: Any) -> Any:
        """`value` with every mock output replaced by the real one (whole strings, and ARNs inside documents)."""
        if isinstance(value, str):
            if value in self.real:
                return self.real[value]
            if "arn:" in value and self.real:
                return self._real_arns().sub(lambda m: self.real.get(m.group(0), m.group(0)), value)
            return value
        if isinstance(value, Mapping):
            return {k: v if k in ("tags", "tagsAll") else self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def _arns(self) -> re.Pattern[str]:
        if self._arn_pattern is None:
            arns = sorted((v for v in self.owners if v.startswith("arn:")), key=len, reverse=True)
            self._arn_pattern = _alternation(arns)
        return self._arn_pattern

    def _real_arns(self) -> re.Pattern[str]:
        return _alternation(sorted((v for v in self.real if v.startswith("arn:")), key=len, reverse=True))


def _alternation(values: Sequence[str]) -> re.Pattern[str]:
    if not values:
        return re.compile(r"(?!x)x")
    return re.compile("(?:" + "|".join(re.escape(v) for v in values) + r")(?![A-Za-z0-9_.-])")


def creation_order(
    resources: Sequence[Resource], edges: Mapping[str, set[str]], rank: Mapping[str, int]
) -> list[Resource]:
    """Dependencies first (Kahn); ties and cycles broken by the type's rank, then by graph order."""
    by_key = {key_of(r): r for r in resources}
    position = {key: i for i, key in enumerate(by_key)}
    waiting = {key: {d for d in edges.get(key, set()) if d in by_key and d != key} for key in by_key}
    users: dict[str, set[str]] = {key: set() for key in by_key}
    for key, needs in waiting.items():
        for need in needs:
            users[need].add(key)

    def priority(key: str) -> tuple[int, int, str]:
        return (rank.get(by_key[key].type, 50), position[key], key)

    ready = [priority(k) for k, needs in waiting.items() if not needs]
    heapq.heapify(ready)
    order: list[Resource] = []
    done: set[str] = set()
    while len(done) < len(by_key):
        if not ready:  # a cycle: start with the lowest-ranked resource still waiting
            heapq.heappush(ready, min(priority(k) for k in by_key if k not in done))
        key = heapq.heappop(ready)[2]
        if key in done:
            continue
        done.add(key)
        order.append(by_key[key])
        for user in users[key]:
            waiting[user].discard(key)
            if not waiting[user] and user not in done:
                heapq.heappush(ready, priority(user))
    return order
