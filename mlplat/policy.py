"""Runs the policy rules over stack graphs, merges checkov's findings, applies waivers and renders the report:
`mlplat.policy/v1` JSON (DESIGN.md section 6), text, or SARIF 2.1.0 for code-scanning UIs."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policies.engine import Violation, evaluate
from policies.rules import RULES
from policies.settings import PolicySettings, load_settings
from policies.waivers import Waiver, apply_waivers

POLICY_SCHEMA = "mlplat.policy/v1"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://github.com/mlplat/mlplat/blob/main/docs/policy.md"


@dataclass(frozen=True)
class CheckovSummary:
    """What checkov looked at and how it went, before waivers."""

    passed: int = 0
    failed: int = 0
    skipped: int = 0
    targets: tuple[str, ...] = ()
    check_names: Mapping[str, str] = field(default_factory=dict)  # check id -> checkov's title
    not_applicable: Mapping[str, str] = field(default_factory=dict)  # checks not run -> why (policies/config.yaml)

    def as_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failed": self.failed,
            "skipped": self.skipped,
            "targets": list(self.targets),
            "not_applicable": dict(self.not_applicable),
        }


@dataclass(frozen=True)
class PolicyReport:
    violations: list[Violation]
    stacks: list[str]
    waivers: list[Waiver] = field(default_factory=list)
    checkov: CheckovSummary | None = None

    @property
    def mandatory(self) -> int:
        return sum(v.level == "mandatory" for v in self.violations)

    @property
    def advisory(self) -> int:
        return sum(v.level == "advisory" for v in self.violations)

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "schema": POLICY_SCHEMA,
            "stacks": self.stacks,
            "violations": [v.as_json() for v in self.violations],
            "waivers": [w.as_json() for w in self.waivers],
            "summary": {"mandatory": self.mandatory, "advisory": self.advisory, "waived": len(self.waivers)},
        }
        if self.checkov is not None:
            data["checkov"] = self.checkov.as_json()
        return data

    def render(self, fmt: str) -> str:
        if fmt == "json":
            return json.dumps(self.as_json(), indent=2)
        if fmt == "sarif":
            return json.dumps(to_sarif(self), indent=2)
        lines = [
            f"{v.level.upper():<9} {v.rule}  [{v.stack}] {v.resource_type} {v.resource_name}: {v.message}"
            for v in self.violations
        ]
        lines.extend(
            f"WAIVED    {w.violation.rule}  [{w.violation.stack}] {w.violation.resource_type} "
            f"{w.violation.resource_name}: {w.reason} (by {w.via})"
            for w in self.waivers
        )
        if self.checkov is not None:
            lines.append(
                f"checkov: {self.checkov.passed} passed, {self.checkov.failed} failed, {self.checkov.skipped} skipped "
                f"over {len(self.checkov.targets)} target(s); not applicable: "
                f"{', '.join(self.checkov.not_applicable) or 'none'} (policies/config.yaml)"
            )
        lines.append(
            f"policy: {len(self.stacks)} stack(s), {self.mandatory} mandatory and {self.advisory} advisory "
            f"violation(s), {len(self.waivers)} waived - {'FAILED' if self.mandatory else 'passed'}"
        )
        return "\n".join(lines)


def run_policies(
    graphs: Iterable[Mapping[str, Any]],
    settings: PolicySettings | None = None,
    checkov_findings: Iterable[Violation] = (),
    checkov_skips: Iterable[Waiver] = (),
    checkov_summary: CheckovSummary | None = None,
) -> PolicyReport:
    """Every rule over every graph, plus checkov's findings; then waivers. Without `settings`, the repository's
    `policies/config.yaml` and no jurisdictions (each stack's own region is then the only one a rule can place);
    `mlplat policy` and `mlplat plan` pass the project's settings through `policy_report`."""
    settings = settings or load_settings()
    graphs = list(graphs)
    violations: list[Violation] = []
    for graph in graphs:
        violations.extend(evaluate(graph, RULES, settings))
    violations.extend(checkov_findings)
    standing, waived = apply_waivers(violations, graphs, settings)
    waived.extend(checkov_skips)
    standing.extend(
        Violation(
            "mlplat-waiver-reason",
            "mandatory",
            s.violation.stack,
            s.violation.resource_type,
            s.violation.resource_name,
            f"checkov skip of {s.violation.rule} has no reason",
            source="checkov",
            file=s.violation.file,
            line=s.violation.line,
        )
        for s in checkov_skips
        if not s.reason
    )
    order = {"mandatory": 0, "advisory": 1}
    standing.sort(key=lambda v: (order[v.level], v.stack, v.rule, v.resource_name))
    return PolicyReport(standing, [str(g["stack"]) for g in graphs], [w for w in waived if w.reason], checkov_summary)


def policy_report(
    root: Path, graphs: Sequence[Mapping[str, Any]], graph_dirs: Sequence[Path], checkov: bool = True
) -> PolicyReport:
    """What `mlplat policy` reports: our rules, and unless `checkov` is False one checkov run over the graphs,
    infra/, the runtime Dockerfiles and the Kubernetes YAML beside the graphs (`<graph dir>/<stack>/k8s/`)."""
    from policies.checkov.runner import discover, run_checkov

    settings = load_settings(root)
    if not checkov:
        return run_policies(graphs, settings)
    targets = discover(root, graph_dirs, [str(g["stack"]) for g in graphs])
    targets.graphs = list(graphs)
    scan = run_checkov(root, targets, settings)
    summary = CheckovSummary(
        len(scan.passed),
        len(scan.findings),
        len(scan.skips),
        tuple(scan.targets),
        scan.check_names,
        {c: r for c, r in settings.checkov_not_applicable.items() if r},
    )
    return run_policies(graphs, settings, scan.findings, scan.skips, summary)


# -- SARIF 2.1.0 -----------------------------------------------------------------------------------------------


def _location(violation: Violation) -> dict[str, Any]:
    uri = violation.file or f"stacks/Pulumi.{violation.stack}.yaml"
    physical: dict[str, Any] = {"artifactLocation": {"uri": uri.lstrip("/")}}
    if violation.line:
        physical["region"] = {"startLine": violation.line}
    return {
        "physicalLocation": physical,
        "logicalLocations": [
            {
                "name": violation.resource_name,
                "fullyQualifiedName": f"{violation.stack}::{violation.resource_type}::{violation.resource_name}",
                "kind": "resource",
            }
        ],
    }


def to_sarif(report: PolicyReport) -> dict[str, Any]:
    """One run per source (crossguard rules, checkov); waived findings carry an accepted external suppression."""
    runs = []
    for source, tool, uri in (
        ("crossguard", "mlplat-policy", INFORMATION_URI),
        ("checkov", "checkov", "https://www.checkov.io"),
    ):
        findings: list[tuple[Violation, Waiver | None]] = [(v, None) for v in report.violations if v.source == source]
        findings += [(w.violation, w) for w in report.waivers if w.violation.source == source]
        if source == "checkov" and report.checkov is None and not findings:
            continue
        rule_ids = sorted({v.rule for v, _ in findings} | ({r.id for r in RULES} if source == "crossguard" else set()))
        rules = [_sarif_rule(rule_id, report) for rule_id in rule_ids]
        index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
        results = []
        for violation, waiver in findings:
            result: dict[str, Any] = {
                "ruleId": violation.rule,
                "ruleIndex": index[violation.rule],
                "level": "error" if violation.level == "mandatory" else "warning",
                "message": {"text": f"{violation.resource_type} {violation.resource_name}: {violation.message}"},
                "locations": [_location(violation)],
                "partialFingerprints": {"mlplatResource/v1": _fingerprint(violation)},
                "properties": {"stack": violation.stack, "source": violation.source},
            }
            if waiver is not None:
                result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": waiver.reason}]
            results.append(result)
        runs.append(
            {
                "tool": {"driver": {"name": tool, "informationUri": uri, "rules": rules}},
                "results": results,
            }
        )
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": runs}


def _fingerprint(violation: Violation) -> str:
    return f"{violation.rule}:{violation.stack}:{violation.resource_type}:{violation.resource_name}"


def _sarif_rule(rule_id: str, report: PolicyReport) -> dict[str, Any]:
    if rule_id in RULES:
        rule = RULES[rule_id]
        return {
            "id": rule.id,
            "name": rule.id,
            "shortDescription": {"text": rule.rationale},
            "helpUri": f"{INFORMATION_URI}#{rule.id}",
            "defaultConfiguration": {"level": "error" if rule.level == "mandatory" else "warning"},
            "properties": {"family": rule.family},
        }
    names = report.checkov.check_names if report.checkov else {}
    return {"id": rule_id, "name": rule_id, "shortDescription": {"text": names.get(rule_id, rule_id)}}
