"""The before/after graph comparison: creations, deletions, moves by alias, in-place updates and replacements."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlplat.graph import GRAPH_SCHEMA
from mlplat.graph_diff import diff_graphs, main


def _resource(type_: str, name: str, parent: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"type": type_, "name": name, "parent": parent, "inputs": extra.pop("inputs", {}), **extra}


def _graph(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"schema": GRAPH_SCHEMA, "stack": "s", "region": "eu-west-1", "jurisdiction": "eu",
            "resources": list(resources)}  # fmt: skip


COMPONENT = _resource("mlplat:index:Workloads", "w")
ADDONS = _resource("mlplat:index:ClusterAddons", "a")
ROLE = "aws:iam/role:Role"
RELEASE = "kubernetes:helm.sh/v3:Release"


def test_a_policy_document_compares_by_content_not_by_spelling() -> None:
    before = _graph(_resource(ROLE, "r", inputs={"assumeRolePolicy": '{"b": 1, "a": [1, 2]}', "name": "x"}))
    after = _graph(_resource(ROLE, "r", inputs={"assumeRolePolicy": '{"a":[1,2],"b":1}', "name": "x"}))
    diff = diff_graphs(before, after)
    assert (diff.created, diff.deleted, diff.updated) == ([], [], {})


def test_an_alias_moves_a_resource_to_a_new_parent_and_name() -> None:
    before = _graph(COMPONENT, ADDONS, _resource(RELEASE, "w-csi", "mlplat:index:Workloads::w"))
    moved = _resource(RELEASE, "a-csi", "mlplat:index:ClusterAddons::a",
                      aliases=[{"name": "w-csi", "parent": "mlplat:index:Workloads::w"}])  # fmt: skip
    diff = diff_graphs(before, _graph(COMPONENT, ADDONS, moved))
    assert diff.created == [] and diff.deleted == []
    assert diff.aliased == [
        (("mlplat:index:Workloads$" + RELEASE, "w-csi"), ("mlplat:index:ClusterAddons$" + RELEASE, "a-csi"))
    ]


def test_a_new_parent_without_an_alias_is_a_delete_and_a_create() -> None:
    before = _graph(COMPONENT, ADDONS, _resource(RELEASE, "csi", "mlplat:index:Workloads::w"))
    after = _graph(COMPONENT, ADDONS, _resource(RELEASE, "csi", "mlplat:index:ClusterAddons::a"))
    diff = diff_graphs(before, after)
    assert diff.created == [("mlplat:index:ClusterAddons$" + RELEASE, "csi")]
    assert diff.deleted == [("mlplat:index:Workloads$" + RELEASE, "csi")]


def test_a_physical_name_change_is_a_replacement_and_fails_unless_allowed(tmp_path: Path) -> None:
    before, after = tmp_path / "before", tmp_path / "after"
    before.mkdir(), after.mkdir()
    old = _graph(_resource(ROLE, "r", inputs={"name": "old", "description": "d"}))
    new = _graph(_resource(ROLE, "r", inputs={"name": "new", "description": "e"}))
    (before / "s.graph.json").write_text(json.dumps(old))
    (after / "s.graph.json").write_text(json.dumps(new))
    diff = diff_graphs(old, new)
    assert diff.updated == {(ROLE, "r"): ["description", "name"]} and diff.replaced == {(ROLE, "r"): ["name"]}
    assert main([str(before), str(after)]) == 1
    assert main([str(before), str(after), "--allow-replace", f"{ROLE} r"]) == 0


def test_a_missing_stack_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "before").mkdir(), (tmp_path / "after").mkdir()
    (tmp_path / "before" / "s.graph.json").write_text(json.dumps(_graph()))
    assert main([str(tmp_path / "before"), str(tmp_path / "after")]) == 2
    assert "no graph for s" in capsys.readouterr().err
