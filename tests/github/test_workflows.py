"""The user-facing GitHub workflows: valid against GitHub's workflow schema (check-jsonschema, offline), clean under
zizmor (offline), every action pinned by commit SHA, no permissions beyond what each job declares."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from runtime.promote.config import load_config

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def _load(path: Path) -> dict[Any, Any]:
    return yaml.load(path.read_text(), Loader=yaml.BaseLoader)  # BaseLoader: `on` stays a string


def test_the_three_workflows_exist() -> None:
    assert [path.name for path in WORKFLOWS] == ["images.yml", "infra.yml", "model.yml"]


def test_workflows_match_githubs_schema() -> None:
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing() -> None:
    result = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--no-progress", str(ROOT / ".github" / "workflows")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_pinned_and_permissions_least(path: Path) -> None:
    workflow = _load(path)
    assert workflow["permissions"] == {}, "no default token permissions at the top"
    for name, job in workflow["jobs"].items():
        assert "permissions" in job, f"{path.name}: job {name} declares its permissions"
        assert set(job["permissions"]) <= {"contents", "id-token", "security-events"}
        for step in job.get("steps", []):
            if "uses" in step:
                assert PINNED.match(step["uses"]), f"{path.name}: {step['uses']} is not pinned by commit SHA"
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] == "false"


def test_infra_deploys_global_first_then_regions_one_at_a_time() -> None:
    jobs = _load(ROOT / ".github" / "workflows" / "infra.yml")["jobs"]
    assert jobs["up-regions"]["needs"] == ["up-global"]
    assert jobs["up-regions"]["strategy"]["max-parallel"] == "1"
    assert jobs["up-global"]["environment"] == "production-global"
    stacks = {path.name.split(".")[1] for path in (ROOT / "stacks").glob("Pulumi.*.yaml")}
    assert {"global", *jobs["up-regions"]["strategy"]["matrix"]["stack"]} == stacks


def test_model_workflow_gates_rolls_out_and_waits_for_the_approval_environment() -> None:
    workflow = _load(ROOT / ".github" / "workflows" / "model.yml")
    assert set(workflow["on"]) == {"workflow_dispatch", "repository_dispatch"}
    jobs = workflow["jobs"]
    assert jobs["rollout"]["needs"] == ["gate"] and jobs["promote"]["needs"] == ["rollout"]
    assert jobs["promote"]["environment"] == "model-approval"
    load_config(ROOT / "gates.yaml")  # the policy the workflow names is valid
