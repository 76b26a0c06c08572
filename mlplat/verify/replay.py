"""`mlplat verify`: every stack's graph replayed through boto3 against an AWS emulator, in dependency order, each
resource read back and compared with what the graph declares."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlplat.graph import Graph, Resource
from mlplat.verify.emulator import Clients
from mlplat.verify.mappings import MAPPINGS
from mlplat.verify.not_emulated import reason_not_emulated
from mlplat.verify.references import ReferenceTable, creation_order, key_of, mock_outputs
from mlplat.verify.shapes import unwrap_secrets
from mlplat.verify.step import Refused, Step

VERIFY_SCHEMA = "mlplat.verify/v1"
# Ties and cycles: keys and identities before what uses them.
TYPE_RANK = {
    "aws:kms/key:Key": 0,
    "aws:iam/role:Role": 1,
    "aws:ec2/vpc:Vpc": 2,
    "aws:s3/bucket:Bucket": 3,
    "aws:ec2/subnet:Subnet": 4,
    "aws:ec2/securityGroup:SecurityGroup": 5,
    # A bucket's policy as soon as it can be: the graph holds no Output-level dependency, and a logging target's
    # policy must exist before another bucket logs to it (components/secure_bucket.py makes `name` wait for it).
    "aws:s3/bucketPolicy:BucketPolicy": 6,
}


@dataclass
class ResourceResult:
    type: str
    name: str
    status: str  # verified | refused | differs | blocked | not-emulated
    operation: str = ""
    error: str = ""
    differences: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type, "name": self.name, "status": self.status}
        if self.operation:
            data["operation"] = self.operation
        if self.error:
            data["error"] = self.error
        if self.differences:
            data["differences"] = self.differences
        if self.warnings:
            data["warnings"] = self.warnings
        return data


@dataclass
class StackResult:
    stack: str
    results: list[ResourceResult] = field(default_factory=list)
    kubernetes: int = 0  # Kubernetes objects and Helm releases: out of scope, counted apart

    def count(self, *statuses: str) -> int:
        return sum(r.status in statuses for r in self.results)

    @property
    def aws_resources(self) -> int:
        return len(self.results)

    @property
    def created(self) -> int:
        return self.count("verified", "differs")

    @property
    def verified(self) -> int:
        return self.count("verified")

    @property
    def coverage(self) -> float:
        return self.verified / self.aws_resources if self.aws_resources else 1.0

    @property
    def failures(self) -> list[ResourceResult]:
        return [r for r in self.results if r.status in ("refused", "differs")]

    def as_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "aws_resources": self.aws_resources,
            "created": self.created,
            "verified": self.verified,
            "not_emulated": self.count("not-emulated"),
            "kubernetes_not_emulated": self.kubernetes,
            "coverage": round(self.coverage, 4),
            "resources": [r.as_json() for r in self.results],
        }


@dataclass
class VerifyReport:
    endpoint: str
    stacks: list[StackResult]
    unreplayed_inputs: dict[str, list[str]]  # resource type -> Pulumi inputs no mapping sent (a mapping gap)

    @property
    def ok(self) -> bool:
        return not any(s.failures for s in self.stacks)

    def as_json(self) -> dict[str, Any]:
        return {
            "schema": VERIFY_SCHEMA,
            "endpoint": self.endpoint,
            "stacks": [s.as_json() for s in self.stacks],
            "unreplayed_inputs": self.unreplayed_inputs,
            "ok": self.ok,
        }

    def render(self, fmt: str) -> str:
        if fmt == "json":
            return json.dumps(self.as_json(), indent=2)
        lines: list[str] = []
        for stack in self.stacks:
            lines.append(coverage_line(stack))
            missing = Counter((r.type, r.error) for r in stack.results if r.status == "not-emulated")
            for (type_token, reason), count in sorted(missing.items()):
                lines.append(f"   not emulated: {count} {type_token} ({reason})")
            for result in stack.results:
                lines.extend(f"   warning {result.type} {result.name}: {w}" for w in result.warnings)
                if result.status == "refused":
                    lines.append(f"   REFUSED {result.type} {result.name}: {result.operation}: {result.error}")
                elif result.status == "differs":
                    for difference in result.differences:
                        lines.append(f"   DIFFERS {result.type} {result.name}: {difference}")
                elif result.status == "blocked":
                    lines.append(f"   blocked {result.type} {result.name}: {result.error}")
        for type_token, inputs in sorted(self.unreplayed_inputs.items()):
            lines.append(f"mapping gap: {type_token}: inputs not replayed: {', '.join(sorted(inputs))}")
        failures = sum(len(s.failures) for s in self.stacks)
        lines.append(
            f"verify: {len(self.stacks)} stack(s) against {self.endpoint}, {failures} resource(s) refused or read back "
            f"differently - {'passed' if self.ok else 'FAILED'}"
        )
        return "\n".join(lines)


def coverage_line(stack: StackResult) -> str:
    return (
        f"verify {stack.stack}: {stack.aws_resources} AWS resources, {stack.created} created, "
        f"{stack.verified} verified, "
        f"{stack.count('not-emulated')} not emulated; coverage {stack.coverage:.0%}"
        f" (+{stack.kubernetes} Kubernetes/Helm not emulated)"
    )


def _expanded(graph: Graph) -> dict[str, set[str]]:
    """Explicit `dependsOn`, a component standing for every resource under it."""
    children: dict[str, list[str]] = {}
    for resource in graph.resources:
        if resource.parent:
            children.setdefault(resource.parent, []).append(key_of(resource))

    def leaves(key: str) -> set[str]:
        found = {key}
        for child in children.get(key, []):
            found |= leaves(child)
        return found

    return {key_of(r): {leaf for d in r.depends_on for leaf in leaves(d)} for r in graph.resources}


def replay(documents: Sequence[Graph | Mapping[str, Any]], clients: Clients) -> VerifyReport:
    """Creates every graph's AWS resources (graphs in the order given: global first), then reads each back."""
    graphs = [Graph.of(document) for document in documents]
    table = ReferenceTable()
    mocks: dict[str, dict[str, str]] = {}
    for graph in graphs:
        for resource in graph.resources:
            if resource.type.startswith("aws:"):
                mocks[key_of(resource)] = mock_outputs(graph.stack, resource)
                table.add(key_of(resource), mocks[key_of(resource)])
    gaps: dict[str, set[str]] = {}
    failed: dict[str, str] = {}  # resource key -> the name of what failed (itself or a dependency)
    stacks = []
    for graph in graphs:
        aws = [r for r in graph.resources if r.type.startswith("aws:")]
        explicit = _expanded(graph)
        edges = {key_of(r): table.references(r.inputs, key_of(r)) | explicit.get(key_of(r), set()) for r in aws}
        result = StackResult(graph.stack)
        result.kubernetes = sum(r.type.startswith("kubernetes:") for r in graph.resources)
        for resource in creation_order(aws, edges, TYPE_RANK):
            key = key_of(resource)
            outcome = _replay_one(graph, resource, clients, table, mocks[key], gaps)
            blocker = next((failed[d] for d in sorted(edges.get(key, ())) if d in failed), None)
            if blocker and outcome.status in ("refused", "differs"):
                outcome = ResourceResult(outcome.type, outcome.name, "blocked", error=f"depends on {blocker}, refused")
            if outcome.status in ("refused", "blocked"):
                failed[key] = blocker or f"{resource.type} {resource.name}"
            result.results.append(outcome)
        stacks.append(result)
    return VerifyReport(clients.endpoint_url, stacks, {t: sorted(k) for t, k in gaps.items() if k})


def _replay_one(
    graph: Graph,
    resource: Resource,
    clients: Clients,
    table: ReferenceTable,
    mock: Mapping[str, str],
    gaps: dict[str, set[str]],
) -> ResourceResult:
    type_token, name = resource.type, resource.name
    reason = reason_not_emulated(type_token)
    emulation = MAPPINGS.get(type_token)
    if reason or emulation is None:
        return ResourceResult(type_token, name, "not-emulated", error=reason or "no mapping in mlplat verify yet")
    raw = dict(resource.inputs)
    dangling = table.dangling(raw)
    if dangling:
        return ResourceResult(
            type_token, name, "refused", "reference", f"{', '.join(dangling)}: no resource in the graphs creates it"
        )
    region = resource.region or graph.region
    step = Step(resource, unwrap_secrets(table.resolve(raw)), region, clients)
    try:
        outputs = emulation.create(step)
        table.learn(key_of(resource), mock, outputs)
        emulation.read(step, outputs)
    except Refused as refused:
        return ResourceResult(type_token, name, "refused", refused.operation, refused.error)
    finally:
        unused = set(step.inputs) - step.consumed - set(emulation.provider_only) - {"region"}
        gaps.setdefault(type_token, set()).update(unused | set(step.unmatched))
    if step.differences:
        return ResourceResult(
            type_token, name, "differs", step.calls[-1] if step.calls else "", differences=step.differences
        )
    return ResourceResult(type_token, name, "verified", warnings=step.warnings)
