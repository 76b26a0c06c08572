"""`mlplat`: the offline command line of the platform (DESIGN.md section 4).

Exit codes: 0 success, 1 a finding (mandatory policy violation, budget, residency breach), 2 usage or config error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from components.config import ConfigError, Deployment, load_deployment
from mlplat.cost import PriceTable, SpotDiscounts, StackCost, Usage, as_infracost_json, estimate_stack, render_text
from mlplat.graph import Graph, GraphError, load_graph
from mlplat.policy import PolicyReport
from mlplat.residency import render as render_residency
from mlplat.residency import residency_report
from mlplat.synth import SynthError, synthesize

EXIT_OK, EXIT_FINDING, EXIT_USAGE = 0, 1, 2
DEFAULT_GRAPH_DIR = Path("build/graphs")


class UsageError(Exception):
    """A bad command line; exit 2."""


def find_project(start: Path) -> Path:
    """Like git and pulumi: the nearest directory at or above `start` that holds `Pulumi.yaml`."""
    for directory in (start, *start.parents):
        if (directory / "Pulumi.yaml").is_file():
            return directory
    raise UsageError(f"no Pulumi.yaml in {start} or any parent; run inside an mlplat checkout or pass --project")


def _select(deployment: Deployment, names: Sequence[str], all_stacks: bool) -> list[str]:
    if all_stacks and names:
        raise UsageError("give stack names or --all, not both")
    if all_stacks:
        return _ordered(deployment)
    if not names:
        raise UsageError("name at least one stack, or pass --all")
    unknown = [n for n in names if n not in deployment.stacks]
    if unknown:
        raise UsageError(f"unknown stack(s): {', '.join(unknown)} (known: {', '.join(_ordered(deployment))})")
    return list(names)


def _ordered(deployment: Deployment) -> list[str]:
    """Deployment order: the global stack first, then the regions."""
    return sorted(deployment.stacks, key=lambda n: (deployment.stacks[n].kind != "global", n))


# -- commands ------------------------------------------------------------------------------------------------


def cmd_stacks(args: argparse.Namespace, root: Path) -> int:
    deployment = load_deployment(root)
    rows = [
        {
            "name": name,
            "kind": deployment.stacks[name].kind,
            "region": deployment.stacks[name].region,
            "jurisdiction": deployment.stacks[name].jurisdiction,
        }
        for name in _ordered(deployment)
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"{'STACK':<16} {'KIND':<9} {'REGION':<16} JURISDICTION")
        for row in rows:
            print(f"{row['name']:<16} {row['kind']:<9} {row['region']:<16} {row['jurisdiction']}")
    return EXIT_OK


def _synth(root: Path, stacks: list[str], out: Path) -> list[Graph]:
    results = synthesize(root, stacks, out)
    return [load_graph(r.path) for r in results]


def cmd_synth(args: argparse.Namespace, root: Path) -> int:
    deployment = load_deployment(root)
    stacks = _select(deployment, args.stacks, args.all)
    out = _resolve(root, args.out)
    started = time.perf_counter()
    results = synthesize(root, stacks, out)
    for result in results:
        print(f"{result.stack:<16} {result.resources:>4} resources  {result.seconds:5.1f}s  {result.path}")
    print(f"synthesized {len(results)} stack(s) in {time.perf_counter() - started:.1f}s")
    return EXIT_OK


def _graphs_for(args: argparse.Namespace, root: Path) -> list[Graph]:
    if args.graph:
        if args.stacks or args.all:
            raise UsageError("give --graph files or stacks, not both")
        return [load_graph(Path(p)) for p in args.graph]
    deployment = load_deployment(root)
    return _synth(root, _select(deployment, args.stacks, args.all), _resolve(root, DEFAULT_GRAPH_DIR))


def _emit(text: str, out: str | None) -> None:
    if out:
        Path(out).write_text(text + "\n")
    else:
        print(text)


def cmd_policy(args: argparse.Namespace, root: Path) -> int:
    from mlplat.policy import policy_report
    from policies.checkov.runner import CheckovFailed, CheckovMissing, checkov_executable

    try:
        if not args.no_checkov:
            checkov_executable(root)  # a missing checkov venv is a setup error: exit 2 before synthesizing
        graph_dirs = sorted({Path(p).resolve().parent for p in args.graph or []}) or [_resolve(root, DEFAULT_GRAPH_DIR)]
        report = policy_report(root, _graphs_for(args, root), graph_dirs, checkov=not args.no_checkov)
    except (CheckovMissing, CheckovFailed) as error:
        raise UsageError(str(error)) from None
    _emit(report.render(args.format), args.out)
    return EXIT_FINDING if report.mandatory else EXIT_OK


def stack_costs(root: Path, graphs: list[Graph]) -> tuple[list[StackCost], PriceTable]:
    deployment = load_deployment(root)
    prices = PriceTable.load()
    spot = SpotDiscounts(deployment.platform.cost.spot_discount, deployment.platform.cost.default_spot_discount)
    costs = []
    for graph in graphs:
        stack = deployment.stacks.get(graph["stack"])
        usage = Usage.from_file(root / "stacks" / "usage.yaml", graph["stack"])
        costs.append(estimate_stack(graph, prices, usage, spot, stack.budget_monthly_usd if stack else None))
    return costs, prices


def cmd_cost(args: argparse.Namespace, root: Path) -> int:
    args.graph = getattr(args, "graph", None)
    costs, prices = stack_costs(root, _graphs_for(args, root))
    if args.format == "json":
        _emit(json.dumps(as_infracost_json(costs, prices), indent=2), args.out)
    else:
        _emit(render_text(costs, prices), args.out)
    return EXIT_FINDING if any(c.over_budget for c in costs) else EXIT_OK


def cmd_residency(args: argparse.Namespace, root: Path) -> int:
    deployment = load_deployment(root)
    if args.graph:
        graphs = [load_graph(Path(p)) for p in args.graph]
    else:
        graphs = _synth(root, _ordered(deployment), _resolve(root, DEFAULT_GRAPH_DIR))
    report = residency_report(graphs, deployment.residency())
    _emit(render_residency(report, args.format, [g["stack"] for g in graphs]), args.out)
    return EXIT_FINDING if report.breaches else EXIT_OK


def _deployment_order(graphs: list[Graph]) -> list[Graph]:
    return sorted(graphs, key=lambda g: g.kind != "global")


def cmd_verify(args: argparse.Namespace, root: Path) -> int:
    from mlplat.verify import verify

    report = verify(_deployment_order(_graphs_for(args, root)), args.endpoint_url)
    print(report.render(args.format))
    return EXIT_OK if report.ok else EXIT_FINDING


def cmd_audit(args: argparse.Namespace, root: Path) -> int:
    from mlplat.audit import audit
    from mlplat.verify.emulator import Clients

    deployment = load_deployment(root)
    known = {r for j in deployment.residency().jurisdictions.values() for r in j}
    unknown = [r for r in args.region if r not in known]
    if unknown:
        raise UsageError(f"unknown region(s): {', '.join(unknown)} (platform regions: {', '.join(sorted(known))})")
    if args.graph:
        graphs = [load_graph(Path(p)) for p in args.graph]
    else:
        graphs = _synth(root, _ordered(deployment), _resolve(root, DEFAULT_GRAPH_DIR))
    report = audit(args.region, Clients(args.endpoint_url), graphs, deployment.residency())
    print(report.render(args.format))
    return EXIT_FINDING if report.findings else EXIT_OK


def _dev_regions(value: str | None, root: Path) -> list[str]:
    """`--regions A,B,...`: the local platform's own region first, then regions that have a stack."""
    from mlplat.dev.platform import LOCAL_REGION
    from mlplat.processes import ProcessError

    regions = [r.strip() for r in (value or LOCAL_REGION).split(",") if r.strip()]
    if not regions or regions[0] != LOCAL_REGION:
        raise ProcessError(f"--regions must start with the local platform's region {LOCAL_REGION}")
    known = {s.region for s in load_deployment(root).regional().values()}
    unknown = [r for r in regions if r not in known]
    if unknown or len(set(regions)) != len(regions):
        raise ProcessError(
            f"--regions: {', '.join(unknown) or 'a region twice'} (regions with a stack: {sorted(known)})"
        )
    return regions


def cmd_dev(args: argparse.Namespace, root: Path) -> int:
    from rich.console import Console

    from mlplat.dev.demo import (
        DemoSize,
        demo_session,
        materialize,
        running_services,
        start_platform,
        summary,
        train_and_register,
    )
    from mlplat.dev.demo_promotion import start_fleet
    from mlplat.dev.platform import default_platform
    from mlplat.dev.regions import load_regions, start_regions
    from mlplat.processes import ProcessError

    platform = default_platform(root)
    console = Console(stderr=True)
    if args.action == "status":
        for name, row in platform.status().items():
            state = f"running (pid {row['pid']})" if row["pid"] else "stopped"
            print(f"{name:<8} {state:<22} 127.0.0.1:{row['port']} {'listening' if row['listening'] else ''}")
        for replica in load_regions(platform):
            for service, port in (("redis", replica.redis_port), ("serve", replica.serve_port)):
                pid = replica.pid_of(service)
                state = f"running (pid {pid})" if pid else "stopped"
                print(f"{replica.process_name(service):<8} {state:<22} 127.0.0.1:{port}")
        return EXIT_OK
    if args.action == "down":
        stopped = platform.down()
        print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
        return EXIT_OK
    size = DemoSize()
    if args.action == "up" and running_services(platform):
        running = ", ".join(running_services(platform))
        print(
            f"mlplat dev: the local platform is already running ({running}); `mlplat dev down` first", file=sys.stderr
        )
        return EXIT_USAGE
    try:
        with console.status("starting") as status:

            def step(message: str) -> None:
                console.log(message)
                status.update(message)

            if args.action == "up":
                regions = _dev_regions(args.regions, root)
                try:
                    start_platform(platform, step)
                    versions = train_and_register(platform, size, step)
                    materialize(platform, size, shifted=False, seed=100)
                    start_fleet(platform, versions["challenger"], canary_weight=0.2)
                    extra = start_regions(
                        platform,
                        regions,
                        lambda region, url: materialize(
                            platform, size, shifted=False, seed=100, region=region, redis_url=url
                        ),
                        step,
                        canary_weight=0.2,
                    )
                except BaseException:
                    platform.down()  # nothing was running before `up`: everything running now is its own
                    raise
                serving = ", ".join(
                    [f"{regions[0]} {platform.serve_url}", *(f"{r.region} {r.serve_url}" for r in extra)]
                )
                print(
                    f"up: serving in {serving} (and :{platform.ports.serve2}); MLflow on {platform.mlflow_url}; "
                    f"Prometheus on {platform.prometheus_url}; `mlplat dev down` stops it"
                )
                return EXIT_OK
            result, stopped = demo_session(platform, size, step)
        if stopped:
            console.log(f"stopped {', '.join(stopped)} (started for the demo)")
        print(summary(result))
        ok = result.champion_after_rollback != result.champion_before_rollback and result.serve_pid_unchanged
        promotion = result.promotion
        ok = ok and promotion is not None and promotion.gated is not None and promotion.champion == promotion.gated
        return EXIT_OK if ok else EXIT_FINDING
    except ProcessError as error:
        print(f"mlplat dev: {error}", file=sys.stderr)
        return EXIT_USAGE


PLAN_SCHEMA = "mlplat.plan/v1"
PLAN_CHECKOV_NOTE = "checkov: not run by `mlplat plan` (it takes minutes); `mlplat policy` adds it"


def cmd_plan(args: argparse.Namespace, root: Path) -> int:
    """Synth (or `--graph` files), then exactly `mlplat policy --no-checkov`'s report (same settings, same
    waivers), the cost estimate and the residency report."""
    from mlplat.policy import policy_report

    started = time.perf_counter()
    graphs = _graphs_for(args, root)
    report = policy_report(root, graphs, [], checkov=False)
    costs, _ = stack_costs(root, graphs)
    residency = residency_report(graphs, load_deployment(root).residency())
    failed = bool(report.mandatory or residency.breaches)
    if args.format == "json":
        document = {
            "schema": PLAN_SCHEMA,
            "stacks": [g.stack for g in graphs],
            "policy": report.as_json(),
            "checkov": "not run; `mlplat policy` runs it",
            "cost": {c.stack: {"monthly_usd": round(c.monthly_cost, 2), "budget_usd": c.budget} for c in costs},
            "residency": {
                "paths": len(residency.paths),
                "breaches": [b.as_json() for b in residency.breaches],
            },
            "passed": not failed,
        }
        _emit(json.dumps(document, indent=2), args.out)
        return EXIT_FINDING if failed else EXIT_OK
    lines = [_plan_summary(graph, report) for graph in graphs]
    for cost in costs:
        budget = f" (budget ${cost.budget:,.0f}{', OVER' if cost.over_budget else ''})" if cost.budget else ""
        lines.append(f"   cost {cost.stack}: ${cost.monthly_cost:,.2f}/month{budget}")
    lines.extend(
        f"   BREACH {breach.rule} [{breach.resource.stack}] {breach.resource.name}: {breach.message}"
        for breach in residency.breaches
    )
    lines.append(PLAN_CHECKOV_NOTE)
    status = "FAILED" if report.mandatory else "passed"
    lines.append(
        f"plan: {len(graphs)} stack(s), {sum(len(g.resources) for g in graphs)} resources, policy {status} "
        f"({report.mandatory} mandatory, {report.advisory} advisory, {len(report.waivers)} waived), residency "
        f"{'FAILED' if residency.breaches else 'passed'} ({len(residency.paths)} cross-region paths, "
        f"{len(residency.breaches)} breaches) in {time.perf_counter() - started:.1f}s"
    )
    _emit("\n".join(lines), args.out)
    return EXIT_FINDING if failed else EXIT_OK


def _plan_summary(graph: Graph, report: PolicyReport) -> str:
    aws = [r for r in graph["resources"] if r.get("custom") and not str(r["type"]).startswith("pulumi:")]
    by_type = Counter(str(r["type"]) for r in aws)
    regions = sorted({str(r.get("region")) for r in aws})
    lines = [
        f"== stack {graph['stack']} ({graph.get('kind', 'regional')}): region {graph['region']}, "
        f"jurisdiction {graph['jurisdiction']}, {len(aws)} cloud resources in {', '.join(regions) or '-'}"
    ]
    counts = [f"{n} {_short_type(t)}" for t, n in sorted(by_type.items(), key=lambda item: (-item[1], item[0]))]
    line = "  "
    for item in counts:
        if len(line) + len(item) > 108:
            lines.append(line.rstrip(","))
            line = "  "
        line += f" {item},"
    lines.append(line.rstrip(","))
    violations = [v for v in report.violations if v.stack == graph["stack"]]
    mandatory = [v for v in violations if v.level == "mandatory"]
    lines.append(
        f"   policy: {'FAILED' if mandatory else 'passed'} - {len(mandatory)} mandatory, "
        f"{len(violations) - len(mandatory)} advisory"
    )
    lines.extend(f"     {v.level[:4]} {v.rule}: {v.resource_type} {v.resource_name}: {v.message}" for v in violations)
    return "\n".join(lines)


def _short_type(type_token: str) -> str:
    """`aws:ec2/subnet:Subnet` -> `ec2/subnet`."""
    parts = type_token.split(":")
    return parts[1] if len(parts) == 3 else type_token


def _resolve(root: Path, path: Path | str) -> Path:
    path = Path(path)
    return path if path.is_absolute() else root / path


# -- parser --------------------------------------------------------------------------------------------------


def _stack_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stacks", nargs="*", metavar="STACK", help="stack names (see `mlplat stacks`)")
    parser.add_argument("--all", action="store_true", help="every stack, global first")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlplat", description="Offline tooling for the mlplat Pulumi stacks.")
    parser.add_argument("--project", type=Path, help="project directory (default: nearest Pulumi.yaml upward)")
    commands = parser.add_subparsers(dest="command", required=True)

    stacks = commands.add_parser("stacks", help="list stacks: name, region, jurisdiction")
    stacks.add_argument("--json", action="store_true")
    stacks.set_defaults(func=cmd_stacks)

    synth = commands.add_parser("synth", help="run the program offline under mocks, write graph JSON")
    _stack_arguments(synth)
    synth.add_argument("--out", default=str(DEFAULT_GRAPH_DIR), help="output directory (default build/graphs)")
    synth.set_defaults(func=cmd_synth)

    policy = commands.add_parser("policy", help="run every rule over stacks or graph files")
    _stack_arguments(policy)
    policy.add_argument("--graph", nargs="+", metavar="FILE", help="graph files instead of synthesizing stacks")
    policy.add_argument(
        "--format",
        choices=["text", "json", "sarif"],
        default="text",
        help="text, mlplat.policy/v1 JSON, or SARIF 2.1.0 for code-scanning UIs",
    )
    policy.add_argument(
        "--no-checkov", action="store_true", help="only our rules (as the CrossGuard pack runs them); no checkov scan"
    )
    policy.add_argument("--out", help="write the report here instead of stdout")
    policy.set_defaults(func=cmd_policy)

    cost = commands.add_parser("cost", help="monthly estimate per stack and resource, spot savings shown")
    _stack_arguments(cost)
    cost.add_argument("--graph", nargs="+", metavar="FILE", help="graph files instead of synthesizing stacks")
    cost.add_argument("--format", choices=["text", "json"], default="text")
    cost.add_argument("--out", help="write the estimate here instead of stdout")
    cost.set_defaults(func=cmd_cost)

    residency = commands.add_parser("residency", help="where each tenant's data lives; every cross-region path")
    residency.add_argument("--graph", nargs="+", metavar="FILE", help="graph files (default: synthesize every stack)")
    residency.add_argument("--format", choices=["text", "json"], default="text")
    residency.add_argument("--out", help="write the report here instead of stdout")
    residency.set_defaults(func=cmd_residency)

    dev = commands.add_parser("dev", help="the local platform on 127.0.0.1: up, demo, status, down")
    dev.add_argument("action", choices=["up", "demo", "status", "down"])
    dev.add_argument(
        "--regions",
        help="with up: regions to run serving in, the local region first (e.g. eu-west-1,eu-central-1); each extra "
        "region gets its own Redis with its tenants' features and its own serving process",
    )
    dev.set_defaults(func=cmd_dev)

    verify = commands.add_parser("verify", help="replay stacks through boto3 against moto and read them back")
    _stack_arguments(verify)
    verify.add_argument("--graph", nargs="+", metavar="FILE", help="graph files instead of synthesizing stacks")
    verify.add_argument("--endpoint-url", help="an AWS emulator to use (default: an in-process moto on 127.0.0.1)")
    verify.add_argument("--format", choices=["text", "json"], default="text")
    verify.set_defaults(func=cmd_verify)

    audit = commands.add_parser("audit", help="read-only residency and inventory audit of an account, per region")
    audit.add_argument("--region", nargs="+", required=True, metavar="R", help="regions to inspect")
    audit.add_argument("--endpoint-url", help="an AWS emulator (moto) instead of the real AWS endpoints")
    audit.add_argument("--graph", nargs="+", metavar="FILE", help="graph files (default: synthesize every stack)")
    audit.add_argument("--format", choices=["text", "json", "sarif"], default="text")
    audit.set_defaults(func=cmd_audit)

    plan = commands.add_parser(
        "plan", help="synth + policy (as `policy --no-checkov`) + cost + residency: the offline main job"
    )
    _stack_arguments(plan)
    plan.add_argument("--graph", nargs="+", metavar="FILE", help="graph files instead of synthesizing stacks")
    plan.add_argument("--format", choices=["text", "json"], default="text")
    plan.add_argument("--out", help="write the plan here instead of stdout")
    plan.set_defaults(func=cmd_plan)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        root = args.project.resolve() if args.project else find_project(Path.cwd())
        if args.project and not (root / "Pulumi.yaml").is_file():
            raise UsageError(f"{root} has no Pulumi.yaml")
        return int(args.func(args, root))
    except ConfigError as error:
        print(f"mlplat: invalid configuration:\n{error}", file=sys.stderr)
        return EXIT_USAGE
    except (UsageError, SynthError, GraphError) as error:
        print(f"mlplat: {error}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
