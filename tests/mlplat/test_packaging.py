"""`pip install .` gives console scripts that run: every third-party module they import is declared in pyproject.toml
(directly, through an extra, or as a dependency of a declared package); and the repository carries no stray stores
or citations of files outside it."""

import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, packages_distributions, requires

import pytest
from packaging.requirements import Requirement

from tests.conftest import ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# What each console script (or install flavour) imports, by extra; "" is the base install.
ENTRY_MODULES = {
    "": [
        "mlplat.cli",
        "mlplat.synth",
        "mlplat.cost",
        "policies.rules",
        "policies.crossguard",
        "components.composition",
    ],
    "serve": ["runtime.serving.cli", "runtime.serving.app", "runtime.serving.service"],
    "drift": ["runtime.drift.cli", "runtime.drift.job", "runtime.drift.runner"],
    "train": ["runtime.training.cli", "runtime.training.pipeline", "runtime.training.dispatch"],
    "promote": ["runtime.promote.cli", "runtime.promote.gate", "runtime.promote.rollout"],
}


# Imported only because it happens to be installed (`try: import ... except ImportError`), never required.
OPTIONAL_IMPORTS = {"cloudpickle"}  # pyarrow uses it for serialization when present


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(requirements: Iterable[str]) -> set[str]:
    """Distributions installed by these requirements, following each one's own requirements and extras."""
    pending = [Requirement(r) for r in requirements]
    seen: set[str] = set()
    while pending:
        requirement = pending.pop()
        name = _normalize(requirement.name)
        if name == "mlplat":  # a self-referencing extra: `mlplat[serve,drift]`
            pending += [Requirement(r) for extra in requirement.extras for r in PROJECT["optional-dependencies"][extra]]
            continue
        if name in seen:
            continue
        seen.add(name)
        try:
            declared = requires(requirement.name) or []
        except PackageNotFoundError:
            continue
        for line in declared:
            child = Requirement(line)
            extras = requirement.extras | {""}
            if child.marker is None or any(child.marker.evaluate({"extra": e}) for e in extras):
                pending.append(child)
    return seen


def _imported_modules(modules: list[str]) -> set[str]:
    code = (
        "import importlib, json, sys; before = set(sys.modules); "
        f"[importlib.import_module(m) for m in {modules!r}]; "
        "print(json.dumps(sorted({m.split('.')[0] for m in set(sys.modules) - before})))"
    )
    result = subprocess.run([sys.executable, "-P", "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=240)  # fmt: skip
    return set(json.loads(result.stdout))


@pytest.mark.parametrize("extra", list(ENTRY_MODULES))
def test_every_imported_distribution_is_declared(extra: str) -> None:
    declared = _closure([*PROJECT["dependencies"], *PROJECT.get("optional-dependencies", {}).get(extra, [])])
    distributions = packages_distributions()
    missing = set()
    for module in _imported_modules(ENTRY_MODULES[extra]):
        if module in sys.stdlib_module_names or module in {"mlplat", "components", "policies", "runtime"}:
            continue
        if module in OPTIONAL_IMPORTS:
            continue
        owners = {_normalize(d) for d in distributions.get(module, [])}
        if owners and not owners & declared:
            missing.add(f"{module} ({', '.join(sorted(owners))})")
    assert not missing, f"imported but not declared for `pip install .{f'[{extra}]' if extra else ''}`: {missing}"


def test_the_console_scripts_are_declared() -> None:
    assert set(PROJECT["scripts"]) == {"mlplat", "mlplat-serve", "mlplat-drift", "mlplat-train", "mlplat-promote"}
    assert PROJECT["dependencies"], "pip install . would install none of what the scripts import"


def _tracked() -> list[str]:
    return subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()


def test_no_mlflow_store_is_tracked_and_stores_are_ignored() -> None:
    tracked = _tracked()
    assert not [p for p in tracked if p.endswith("mlflow.db") or p.startswith(("mlruns/", "mlartifacts/"))]
    ignored = subprocess.run(
        ["git", "check-ignore", "mlflow.db", "mlruns/x", "mlartifacts/x"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ignored.stdout.split() == ["mlflow.db", "mlruns/x", "mlartifacts/x"]


def test_sources_cite_original_sources_not_a_file_outside_the_repository() -> None:
    sources = [p for p in _tracked() if p.endswith((".py", ".sh", ".yaml", ".yml", ".toml")) or p == "Makefile"]
    citing = [p for p in sources if "REFERENCE.md" in (ROOT / p).read_text(errors="replace")]
    assert citing == [p for p in citing if p.startswith("tests/")], citing
