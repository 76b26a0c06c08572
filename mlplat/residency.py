"""`mlplat residency`: the tenant table, every cross-region path and its verdict, rendered as text or JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from policies.residency import ResidencyReport, analyse
from runtime.residency import ResidencyMap

RESIDENCY_SCHEMA = "mlplat.residency/v1"


def residency_report(graphs: Sequence[Mapping[str, Any]], residency: ResidencyMap) -> ResidencyReport:
    return analyse(graphs, residency)


def render(report: ResidencyReport, fmt: str, stacks: Sequence[str]) -> str:
    if fmt == "json":
        return json.dumps(
            {
                "schema": RESIDENCY_SCHEMA,
                "stacks": list(stacks),
                "tenants": report.tenants,
                "paths": [p.as_json() for p in report.paths],
                "breaches": [b.as_json() for b in report.breaches],
                "summary": {"paths": len(report.paths), "breaches": len(report.breaches)},
            },
            indent=2,
        )
    lines = [
        f"{'TENANT':<14} {'JURISDICTION':<13} {'HOME':<15} {'FAILOVER':<16} {'DATA STORED IN':<28} ANSWERED FROM (DNS)"
    ]
    single: list[str] = []
    for tenant, row in report.tenants.items():
        answered = row.get("answered_from") or []
        if answered and not row.get("dns_failover"):
            single.append(f"{tenant} ({row['jurisdiction']}: {answered[0]} only)")
        lines.append(
            f"{tenant:<14} {row['jurisdiction'] or '?':<13} {row['home_region'] or '?':<15} "
            f"{','.join(row['failover_regions']) or '-':<16} {', '.join(row['stored_in']) or '-':<28} "
            f"{', '.join(answered) or '-'}"
        )
    if single:
        lines.append(
            "no DNS failover target (one region in the jurisdiction; never another jurisdiction's): "
            + "; ".join(single)
        )
    lines.append("")
    if report.paths:
        lines.append("cross-region paths:")
        for path in report.paths:
            verdict = "allowed" if path.allowed else "BREACH "
            lines.append(
                f"  {verdict} {path.kind:<16} {path.source.stack}:{path.source.name} ({path.source.region}) -> "
                f"{path.target_region or '?'} [{path.data_class}] {path.reason}"
            )
    else:
        lines.append("cross-region paths: none (no replication, global datastore, global table, multi-region key,")
        lines.append("  cross-jurisdiction IAM grant or cross-region endpoint touches any stack's data)")
    for breach in report.breaches:
        ref = breach.resource
        lines.append(f"BREACH {breach.rule} [{ref.stack}] {ref.type} {ref.name} ({ref.region}): {breach.message}")
    verdict = "FAILED" if report.breaches else "passed"
    lines.append(
        f"residency: {len(stacks)} stack(s), {len(report.tenants)} tenant(s), {len(report.paths)} cross-region "
        f"path(s), {len(report.breaches)} breach(es) - {verdict}"
    )
    return "\n".join(lines)
