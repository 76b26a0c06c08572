"""Compares two sets of synthesized graphs (`mlplat synth --all --out DIR`) as Pulumi would plan the change.

A resource's identity is its URN: its type behind the types of its parents, and its name. A resource whose
identity disappears is deleted, one that appears is created; `aliases` recorded in the graph carry an old identity
over to a new one (no replacement). For resources present on both sides the script lists the inputs that differ,
and flags the inputs whose change the provider answers with a replacement (a physical name, a Kubernetes object's
name or namespace).

    python -m mlplat.graph_diff build/graphs-before build/graphs-after [--json] [--allow-replace GLOB ...]

Exit status: 0 when nothing is replaced but what `--allow-replace` names (`fnmatch` on `<type> <name>`); creations,
deletions and in-place updates are listed for review. 1 when another resource would be replaced, 2 on unreadable
input.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlplat.graph import Graph, GraphError, Resource, load_graph

# Inputs whose change the provider cannot apply in place (the physical identity of the resource).
REPLACE_ON_CHANGE: dict[str, tuple[str, ...]] = {
    "aws:iam/role:Role": ("name",),
    "aws:iam/rolePolicy:RolePolicy": ("name", "role"),
    "aws:s3/bucket:Bucket": ("bucket",),
    "aws:kms/key:Key": ("multiRegion",),
    "aws:kms/alias:Alias": ("name",),
    "aws:eks/cluster:Cluster": ("name",),
    "aws:rds/instance:Instance": ("identifier",),
    "aws:elasticache/replicationGroup:ReplicationGroup": ("replicationGroupId",),
    "kubernetes:*": ("metadata.name", "metadata.namespace"),
}

Key = tuple[str, str]  # (qualified type, name): the URN without stack and project


@dataclass
class StackDiff:
    stack: str
    created: list[Key] = field(default_factory=list)
    deleted: list[Key] = field(default_factory=list)
    aliased: list[tuple[Key, Key]] = field(default_factory=list)  # (old, new)
    updated: dict[Key, list[str]] = field(default_factory=dict)  # input paths that differ
    replaced: dict[Key, list[str]] = field(default_factory=dict)  # input paths that force a replacement

    def as_dict(self) -> dict[str, Any]:
        def urn(key: Key) -> str:
            return f"{key[0]}::{key[1]}"

        return {
            "stack": self.stack,
            "created": [urn(k) for k in self.created],
            "deleted": [urn(k) for k in self.deleted],
            "aliased": [{"from": urn(o), "to": urn(n)} for o, n in self.aliased],
            "updated": {urn(k): v for k, v in self.updated.items()},
            "replaced": {urn(k): v for k, v in self.replaced.items()},
        }


def _qualified_types(resources: Sequence[Resource]) -> dict[str, str]:
    """`type::name` -> the URN's type part: parent types joined by `$`, then the resource's own type."""
    parents = {f"{r.type}::{r.name}": r.parent for r in resources}
    qualified: dict[str, str] = {}

    def resolve(ref: str, depth: int = 0) -> str:
        if ref in qualified:
            return qualified[ref]
        own_type = ref.split("::", 1)[0]
        parent = parents.get(ref)
        chain = own_type if not parent or depth > 50 else f"{resolve(parent, depth + 1)}${own_type}"
        qualified[ref] = chain
        return chain

    for ref in parents:
        resolve(ref)
    return qualified


def _index(graph: Graph) -> tuple[dict[Key, Resource], dict[str, str]]:
    qualified = _qualified_types(graph.resources)
    return {(qualified[f"{r.type}::{r.name}"], r.name): r for r in graph.resources}, qualified


def _normalise(value: Any) -> Any:
    """Policy documents and other JSON held as strings compare by content, not by key order or spacing."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return _normalise(json.loads(value))
        except json.JSONDecodeError:
            return value
    if isinstance(value, Mapping):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def _differences(before: Any, after: Any, path: str = "") -> Iterator[str]:
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        for key in sorted(set(before) | set(after)):
            yield from _differences(before.get(key), after.get(key), f"{path}.{key}" if path else str(key))
    elif before != after:
        yield path or "(value)"


def _replacement_triggers(type_token: str, paths: Sequence[str]) -> list[str]:
    fields = REPLACE_ON_CHANGE.get(type_token, ())
    if type_token.startswith("kubernetes:") and not type_token.startswith("kubernetes:helm.sh/"):
        fields = fields + REPLACE_ON_CHANGE["kubernetes:*"]
    return [p for p in paths if any(p == f or p.startswith(f + ".") for f in fields)]


def diff_graphs(before: Graph | Mapping[str, Any], after: Graph | Mapping[str, Any]) -> StackDiff:
    old, _ = _index(Graph.of(before))
    new, new_qualified = _index(Graph.of(after))
    result = StackDiff(stack=Graph.of(after).stack)
    matched: dict[Key, Key] = {key: key for key in new if key in old}  # new key -> old key
    for key, resource in new.items():
        if key in matched:
            continue
        own_type = resource.type
        for alias in resource.extra.get("aliases") or []:
            parent = alias.get("parent")
            prefix = (
                new_qualified.get(parent, parent.split("::", 1)[0])
                if parent
                else key[0].rsplit("$", 1)[0]
                if "$" in key[0]
                else ""
            )
            candidate = (f"{prefix}${own_type}" if prefix else own_type, alias.get("name", key[1]))
            if candidate in old and candidate not in matched.values():
                matched[key] = candidate
                result.aliased.append((candidate, key))
                break
    old_matched = set(matched.values())
    result.created = sorted(k for k in new if k not in matched)
    result.deleted = sorted(k for k in old if k not in old_matched)
    for new_key, old_key in sorted(matched.items()):
        paths = list(_differences(_normalise(old[old_key].inputs), _normalise(new[new_key].inputs)))
        if paths:
            result.updated[new_key] = paths
            triggers = _replacement_triggers(new[new_key].type, paths)
            if triggers:
                result.replaced[new_key] = triggers
    return result


def diff_directories(before_dir: Path, after_dir: Path) -> list[StackDiff]:
    stacks = sorted({p.name.removesuffix(".graph.json") for p in before_dir.glob("*.graph.json")})
    missing = [s for s in stacks if not (after_dir / f"{s}.graph.json").exists()]
    if not stacks or missing:
        raise GraphError(f"{after_dir}: no graph for {', '.join(missing) or 'any stack'} (of {before_dir})")
    return [
        diff_graphs(load_graph(before_dir / f"{s}.graph.json"), load_graph(after_dir / f"{s}.graph.json"))
        for s in stacks
    ]


def _short(key: Key) -> str:
    return f"{key[0].rsplit('$', 1)[-1]} {key[1]}"


def render(diffs: Sequence[StackDiff]) -> str:
    lines = []
    for d in diffs:
        lines.append(
            f"{d.stack}: {len(d.created)} created, {len(d.deleted)} deleted, {len(d.aliased)} moved by alias, "
            f"{len(d.updated)} updated in place, {len(d.replaced)} replaced"
        )
        lines += [f"  + {_short(k)}" for k in d.created]
        lines += [f"  - {_short(k)}" for k in d.deleted]
        lines += [f"  > {_short(o)} -> {_short(n)} (alias)" for o, n in d.aliased]
        lines += [f"  ~ {_short(k)}: {', '.join(paths)}" for k, paths in d.updated.items() if k not in d.replaced]
        lines += [f"  ! {_short(k)} REPLACED: {', '.join(paths)}" for k, paths in d.replaced.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlplat.graph_diff", description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path, help="graphs of the base tree (mlplat synth --all --out BEFORE)")
    parser.add_argument("after", type=Path, help="graphs of the changed tree")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--allow-replace",
        action="append",
        default=[],
        metavar="GLOB",
        help="a replacement you intend, as `<type> <name>` (fnmatch pattern); repeatable",
    )
    args = parser.parse_args(argv)
    try:
        diffs = diff_directories(args.before, args.after)
    except GraphError as error:
        print(error, file=sys.stderr)
        return 2
    print(json.dumps([d.as_dict() for d in diffs], indent=1) if args.json else render(diffs))
    unintended = [
        _short(key)
        for d in diffs
        for key in d.replaced
        if not any(fnmatch.fnmatchcase(_short(key), pattern) for pattern in args.allow_replace)
    ]
    if unintended:
        print(f"replaced without --allow-replace: {', '.join(unintended)}", file=sys.stderr)
    return 1 if unintended else 0


if __name__ == "__main__":
    sys.exit(main())
