"""Shared fixtures: the project root, a disposable copy of its stack configs, and the synthesized graphs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import load_deployment
from mlplat.synth import synthesize

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A copy of Pulumi.yaml and stacks/ to edit: the program itself is imported from the checkout."""
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def edit_yaml(path: Path, edit: Any) -> None:
    """Loads a YAML file, lets `edit(data)` change it in place, writes it back."""
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture(scope="session")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every stack synthesized once under mocks, as users get it from `mlplat synth --all`."""
    out = tmp_path_factory.mktemp("graphs")
    deployment = load_deployment(ROOT)
    results = synthesize(ROOT, sorted(deployment.stacks), out)
    return {r.stack: json.loads(r.path.read_text()) for r in results}


@pytest.fixture(scope="session")
def regional_graphs(graphs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: g for name, g in graphs.items() if g["kind"] == "regional"}
