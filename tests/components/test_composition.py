"""How the stacks compose: the regional stacks read the global stack's outputs through a StackReference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components.composition import (
    MODEL_BUCKETS_OUTPUT,
    global_stack_name,
    planned_global_outputs,
    regional_model_bucket,
)
from components.config import load_deployment
from components.naming import model_bucket_name


def _of(graph: dict[str, Any], type_token: str) -> list[dict[str, Any]]:
    return [r for r in graph["resources"] if r["type"] == type_token]


def test_every_regional_stack_references_the_global_stack(regional_graphs: dict[str, dict[str, Any]]) -> None:
    """Every region reads the global stack; regions other than the registry's also read the registry's stack
    (its PrivateLink endpoint service), which deploys before them."""
    for name, graph in regional_graphs.items():
        references = sorted(r["inputs"]["name"] for r in _of(graph, "pulumi:pulumi:StackReference"))
        expected = ["organization/mlplat/global"]
        if name != "us-east-1":
            expected.append("organization/mlplat/us-east-1")
        assert references == expected, name


def test_the_planned_outputs_are_the_buckets_the_global_stack_declares(
    graphs: dict[str, dict[str, Any]], project_root: Path
) -> None:
    declared = {
        b["region"]: b["inputs"]["bucket"]
        for b in _of(graphs["global"], "aws:s3/bucket:Bucket")
        if b["inputs"]["tags"].get("mlplat/data-class") == "models"
    }
    assert planned_global_outputs(load_deployment(project_root))[MODEL_BUCKETS_OUTPUT] == declared


def test_serving_reads_the_model_bucket_the_reference_names(regional_graphs: dict[str, dict[str, Any]]) -> None:
    for graph in regional_graphs.values():
        (policy,) = [p for p in _of(graph, "aws:iam/rolePolicy:RolePolicy") if p["name"].endswith("-serving-irsa")]
        statements = {s["Sid"]: s for s in json.loads(policy["inputs"]["policy"])["Statement"]}
        assert statements["ListModels"]["Resource"] == f"arn:aws:s3:::{model_bucket_name(graph['region'])}"


def test_a_regional_stack_without_a_global_stack_is_refused(project_copy: Path) -> None:
    (project_copy / "stacks" / "Pulumi.global.yaml").unlink()
    deployment = load_deployment(project_copy)
    with pytest.raises(ValueError, match="no stack has kind: global"):
        global_stack_name(deployment)


def test_a_region_the_global_stack_does_not_know_yet_is_named() -> None:
    assert regional_model_bucket("eu-west-1", {"eu-west-1": "b"}) == "b"
    with pytest.raises(ValueError, match="no model bucket for eu-north-1; deploy the global stack first"):
        regional_model_bucket("eu-north-1", {"eu-west-1": "b"})
