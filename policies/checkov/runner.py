"""Runs checkov, from its own virtualenv (`.venv-checkov`, made by `make setup`), once over everything: the graphs as
Terraform plans, the Terraform in `infra/`, the runtime Dockerfiles and the rendered Kubernetes YAML. Always with
`--skip-download`: no network. Findings come back as `Violation`s naming the graph resource (or file) they are about.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policies.checkov.adapter import PlanDocument, to_plan
from policies.engine import Violation
from policies.settings import PolicySettings
from policies.waivers import Waiver

CHECKOV_VENV = ".venv-checkov"
CHECKS_DIR = Path(__file__).with_name("checks")
FRAMEWORKS = ("terraform_plan", "terraform", "dockerfile", "kubernetes")
TIMEOUT_SECONDS = 300


class CheckovMissing(RuntimeError):
    """The checkov virtualenv is not there; `make setup` creates it."""


class CheckovFailed(RuntimeError):
    """checkov did not produce a report (exit code 2 or unreadable output)."""


@dataclass
class CheckovTargets:
    """What to scan. Paths are absolute; `stack` names the stack a Kubernetes directory belongs to."""

    graphs: list[Mapping[str, Any]] = field(default_factory=list)
    terraform_dirs: list[Path] = field(default_factory=list)
    dockerfiles: list[Path] = field(default_factory=list)
    kubernetes_dirs: dict[str, Path] = field(default_factory=dict)  # stack -> directory of rendered YAML


@dataclass
class CheckovResult:
    findings: list[Violation]
    skips: list[Waiver]  # inline `#checkov:skip=` comments, with their reasons
    passed: list[tuple[str, str, str]]  # (check id, stack, resource)
    check_names: dict[str, str]
    targets: list[str]


def checkov_executable(root: Path) -> Path:
    executable = root / CHECKOV_VENV / "bin" / "checkov"
    if not executable.is_file():
        raise CheckovMissing(
            f"checkov is not installed in {root / CHECKOV_VENV}; run `make setup` (or scripts/checkov-venv.sh) "
            "to create it, or pass --no-checkov"
        )
    return executable


def discover(root: Path, graph_dirs: Iterable[Path], stacks: Iterable[str]) -> CheckovTargets:
    """The repository's own targets: infra/, runtime/*/Dockerfile and `<graph dir>/<stack>/k8s/` when present."""
    targets = CheckovTargets()
    infra = root / "infra"
    if infra.is_dir() and any(infra.rglob("*.tf")):
        targets.terraform_dirs.append(infra)
    targets.dockerfiles.extend(sorted((root / "runtime").glob("*/Dockerfile")))
    for stack in stacks:
        for directory in graph_dirs:
            k8s = directory / stack / "k8s"
            if k8s.is_dir():
                targets.kubernetes_dirs[stack] = k8s
    return targets


def run_checkov(root: Path, targets: CheckovTargets, settings: PolicySettings) -> CheckovResult:
    """One checkov process over every target."""
    executable = checkov_executable(root)
    with tempfile.TemporaryDirectory(prefix="mlplat-checkov-") as scratch_dir:
        scratch = Path(scratch_dir)
        plans: dict[str, tuple[str, PlanDocument]] = {}  # plan file name -> (stack, plan)
        # not --quiet: passed checks are counted in the report
        argv = [str(executable), "--skip-download", "--output", "json", "--compact"]
        argv += ["--external-checks-dir", str(CHECKS_DIR)]
        not_applicable = sorted(c for c, reason in settings.checkov_not_applicable.items() if reason)
        if not_applicable:
            argv += ["--skip-check", ",".join(not_applicable)]
        frameworks: set[str] = set()
        described: list[str] = []
        for graph in targets.graphs:
            document = to_plan(graph)
            file_name = f"{graph['stack']}.tfplan.json"
            (scratch / file_name).write_text(json.dumps(document.plan))
            plans[file_name] = (str(graph["stack"]), document)
            argv += ["--file", str(scratch / file_name)]
            frameworks.add("terraform_plan")
            described.append(f"graph {graph['stack']}")
        # checkov takes either files or one directory per run; files it is, so everything goes in one run.
        file_origins: dict[str, tuple[str, Path]] = {}  # scratch path -> (stack label, original path)
        for directory in targets.terraform_dirs:
            for tf in sorted(directory.rglob("*.tf")):
                if ".terraform" in tf.parts:
                    continue
                argv += ["--file", str(tf)]
                file_origins[str(tf)] = ("infra", tf)
            frameworks.add("terraform")
            described.append(f"terraform {_relative(directory, root)}")
        for dockerfile in targets.dockerfiles:
            argv += ["--file", str(dockerfile)]
            file_origins[str(dockerfile)] = ("runtime", dockerfile)
            frameworks.add("dockerfile")
            described.append(f"dockerfile {_relative(dockerfile, root)}")
        for stack, directory in targets.kubernetes_dirs.items():
            for manifest in sorted([*directory.rglob("*.yaml"), *directory.rglob("*.yml")]):
                argv += ["--file", str(manifest)]
                file_origins[str(manifest)] = (stack, manifest)
            frameworks.add("kubernetes")
            described.append(f"kubernetes {_relative(directory, root)}")
        if not frameworks:
            return CheckovResult([], [], [], {}, [])
        argv += ["--framework", *sorted(frameworks)]
        completed = subprocess.run(
            argv,
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
            timeout=TIMEOUT_SECONDS,
            env={
                **os.environ,
                "BC_SKIP_MAPPING": "TRUE",
                "CHECKOV_EXPERIMENTAL_IMAGE_REFERENCING": "False",
                "LOG_LEVEL": "ERROR",
                "PYTHONWARNINGS": "ignore",
            },
        )
        if completed.returncode not in (0, 1):
            raise CheckovFailed(f"checkov exited {completed.returncode}: {completed.stderr.strip()[-2000:]}")
        try:
            reports = json.loads(completed.stdout)
        except json.JSONDecodeError as error:
            raise CheckovFailed(f"checkov's output is not JSON ({error}): {completed.stdout[:500]}") from None
    return _collect(
        reports if isinstance(reports, list) else [reports],
        plans=plans,
        file_origins=file_origins,
        root=root,
        settings=settings,
        described=described,
    )


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _collect(
    reports: list[dict[str, Any]],
    *,
    plans: Mapping[str, tuple[str, PlanDocument]],
    file_origins: Mapping[str, tuple[str, Path]],
    root: Path,
    settings: PolicySettings,
    described: list[str],
) -> CheckovResult:
    findings: list[Violation] = []
    skips: list[Waiver] = []
    passed: list[tuple[str, str, str]] = []
    names: dict[str, str] = {}
    for report in reports:
        if not isinstance(report, dict) or "results" not in report:
            continue
        framework = str(report.get("check_type", ""))
        results = report["results"]
        for outcome in ("failed_checks", "passed_checks", "skipped_checks"):
            for check in results.get(outcome, []):
                names[check["check_id"]] = check.get("check_name", check["check_id"])
                violation = _violation(
                    check, framework, plans=plans, file_origins=file_origins, root=root, settings=settings
                )
                if outcome == "failed_checks":
                    findings.append(violation)
                elif outcome == "passed_checks":
                    passed.append((violation.rule, violation.stack, violation.resource_name))
                else:
                    result = check.get("check_result") or {}
                    reason = str(result.get("suppress_comment") or check.get("suppress_comment") or "").strip()
                    skips.append(Waiver(violation, "" if reason == "No comment provided" else reason, "checkov-skip"))
    return CheckovResult(findings, skips, passed, names, described)


def _violation(
    check: Mapping[str, Any],
    framework: str,
    *,
    plans: Mapping[str, tuple[str, PlanDocument]],
    file_origins: Mapping[str, tuple[str, Path]],
    root: Path,
    settings: PolicySettings,
) -> Violation:
    check_id = str(check["check_id"])
    level = "mandatory" if check_id in settings.checkov_mandatory else "advisory"
    file_path = str(check.get("file_abs_path") or check.get("file_path") or "")
    resource = str(check.get("resource", ""))
    message = str(check.get("check_name", check_id))
    plan = plans.get(Path(file_path).name) if framework == "terraform_plan" else None
    if plan is not None:
        stack, document = plan
        type_token, name = document.addresses.get(resource, (resource.split(".", 1)[0], resource))
        return Violation(check_id, level, stack, type_token, name, message, source="checkov")  # type: ignore[arg-type]
    stack, original = file_origins.get(file_path, ("repository", Path(file_path)))
    lines = check.get("file_line_range") or [0, 0]
    relative = _relative(original, root)
    resource_type = {"terraform": "terraform", "dockerfile": "dockerfile", "kubernetes": "kubernetes"}.get(
        framework, framework
    )
    if framework == "terraform":
        resource_type = f"terraform:{resource.split('.', 1)[0]}"
    elif framework == "kubernetes":
        resource_type = f"kubernetes:{resource.split('.', 1)[0]}"
    return Violation(
        check_id,
        level,  # type: ignore[arg-type]
        stack,
        resource_type,
        resource if framework != "dockerfile" else relative,
        message,
        source="checkov",
        file=relative,
        line=int(lines[0]) or None,
    )
