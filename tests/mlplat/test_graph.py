"""The graph module: the `mlplat.graph/v1` reader and writer every tool shares."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlplat.graph import GRAPH_SCHEMA, Graph, GraphError, GraphIndex, Resource, load_graph, tags_of
from tests.conftest import ROOT


def _graph(stack: str, *resources: dict[str, Any]) -> dict[str, Any]:
    return {"schema": GRAPH_SCHEMA, "stack": stack, "region": stack, "jurisdiction": "eu", "resources": list(resources)}


def test_importable_without_pulumi() -> None:
    code = "import sys, mlplat.graph; assert not [m for m in sys.modules if m.startswith('pulumi')], 'pulumi'"
    subprocess.run([sys.executable, "-P", "-c", code], cwd=ROOT, check=True, env={"PYTHONPATH": str(ROOT)})


def test_a_synthesized_graph_reads_and_writes_back_unchanged(graphs: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    for name, document in graphs.items():
        path = tmp_path / f"{name}.graph.json"
        path.write_text(json.dumps(document))
        graph = load_graph(path)
        assert graph.as_json() == document, name
        assert graph["resources"][0]["type"] == document["resources"][0]["type"]  # reads as the document too


def test_unknown_fields_of_an_edited_graph_are_kept() -> None:
    entry = {"type": "aws:s3/bucket:Bucket", "name": "b", "inputs": {}, "note": "added by hand"}
    assert Resource.of(entry).as_json()["note"] == "added by hand"


def test_tags_in_both_sdk_forms() -> None:
    assert tags_of({"tags": {"a": "1", "b": None}}) == {"a": "1", "b": ""}
    asg = Resource.of(
        {
            "type": "aws:autoscaling/group:Group",
            "name": "gpu",
            "inputs": {
                "tags": [
                    {"key": "mlplat/data-class", "value": "features", "propagateAtLaunch": True},
                    {"key": "owner", "value": "ml", "propagateAtLaunch": False},
                ]
            },
        }
    )
    assert asg.tags == {"mlplat/data-class": "features", "owner": "ml"}


def test_effective_tags_overlay_the_providers_default_tags() -> None:
    provider = {"type": "pulumi:providers:aws", "name": "p", "inputs": {"defaultTags": {"tags": {"a": "1", "b": "1"}}}}
    bucket = {"type": "aws:s3/bucket:Bucket", "name": "b", "provider": "p", "inputs": {"tags": {"b": "2"}}}
    graph = Graph.of(_graph("eu-west-1", provider, bucket))
    assert graph.effective_tags(graph.resources[1]) == {"a": "1", "b": "2"}


def test_the_index_resolves_ids_names_and_arns_across_graphs() -> None:
    key = {"type": "aws:kms/key:Key", "name": "euw1-key", "id": "euw1-key-id", "inputs": {}}
    bucket = {"type": "aws:s3/bucket:Bucket", "name": "euw1-b", "id": "euw1-b-id", "inputs": {"bucket": "real-b"}}
    other = {"type": "aws:s3/bucket:Bucket", "name": "euc1-b", "inputs": {"bucket": "real-c"}}
    component = {"type": "mlplat:index:FeatureStore", "name": "fs", "custom": False, "inputs": {}}
    index = GraphIndex.of(_graph("eu-west-1", key, bucket, component), _graph("eu-central-1", other))
    assert index.resolve("euw1-key-id").name == "euw1-key"  # type: ignore[union-attr]
    assert index.resolve("arn:aws:kms:eu-west-1:123456789012:key/euw1-key").name == "euw1-key"  # type: ignore[union-attr]
    assert index.resolve("arn:aws:s3:::real-b/prefix/*").name == "euw1-b"  # type: ignore[union-attr]
    found = index.resolve("real-c", ["aws:s3/bucket:Bucket"])
    assert found is not None and index.graph_of(found).stack == "eu-central-1"
    assert index.resolve("real-c", ["aws:kms/key:Key"]) is None
    assert index.resolve("fs") is None  # components are not cloud resources
    assert [r.name for r in index.of_type("aws:s3/bucket:Bucket")] == ["euw1-b", "euc1-b"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ('{"schema": "other/v1"}', "not a mlplat.graph/v1 graph"),
        (json.dumps({"schema": GRAPH_SCHEMA, "stack": "s", "region": "r", "resources": []}), "'jurisdiction'"),
        (json.dumps(_graph("s", {"type": "t"})), "resources[0] needs type, name, inputs"),
    ],
)
def test_a_bad_file_is_reported(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.graph.json"
    path.write_text(text)
    with pytest.raises(GraphError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_graph(path)
