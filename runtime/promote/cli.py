"""`mlplat-promote`: `gate`, `rollout`, `approve` and `history` (DESIGN.md section 12).

Exit codes: gate 0 passed, 1 failed; rollout 0 advanced or done, 1 rolled back, 3 waiting (soak, samples or
approval); 2 usage, configuration or registry errors (the message says what and where).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runtime.promote import registry
from runtime.promote.config import load_config
from runtime.promote.errors import PromoteError
from runtime.promotion_history import HistoryError, HistoryStore

EXIT_USAGE = 2
HISTORY_ENV = "MLPLAT_PROMOTION_HISTORY_URI"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlplat-promote", description=__doc__)
    parser.add_argument("--tracking-uri", help="MLflow registry (default: MLPLAT_TRACKING_URI, MLFLOW_TRACKING_URI)")
    parser.add_argument("--history-uri", help=f"history root, local or s3://bucket/prefix (default: {HISTORY_ENV})")
    commands = parser.add_subparsers(dest="command", required=True)

    gate = commands.add_parser("gate", help="score candidate and champion on the holdout; apply gates.yaml")
    gate.add_argument("--model", required=True)
    gate.add_argument("--version", required=True)
    gate.add_argument("--gates", type=Path, help="gates.yaml (default: the seeds' gates)")
    gate.add_argument("--out", type=Path, help="write the JSON report here (default: stdout)")
    gate.add_argument("--markdown", type=Path, help="write the Markdown summary here (for a pull-request comment)")
    gate.add_argument("--no-alias", action="store_true", help="record the verdict but do not move `challenger`")

    rollout = commands.add_parser("rollout", help="the region's progressive rollout on live Prometheus metrics")
    rollout.add_argument("--model", required=True)
    rollout.add_argument("--region", required=True, help="a region, or comma-separated regions in rollout order")
    rollout.add_argument(
        "--prometheus", required=True, action="append", help="the region's Prometheus URL (one, or one per region)"
    )
    rollout.add_argument("--selector", default="", help='extra PromQL label matchers, e.g. namespace="mlplat"')
    rollout.add_argument("--gates", type=Path, help="gates.yaml whose `rollout:` section holds the rule")
    rollout.add_argument("--once", action="store_true", help="make one decision and exit")
    rollout.add_argument("--timeout", type=float, help="give up waiting after this many seconds (exit 3)")

    approve = commands.add_parser("approve", help="record the approval production promotion waits for")
    approve.add_argument("--model", required=True)
    approve.add_argument("--version", required=True)
    approve.add_argument("--by", required=True)
    approve.add_argument("--reason", required=True)

    history = commands.add_parser("history", help="every transition with who, when, why and the figures")
    history.add_argument("--model", required=True)
    history.add_argument("--format", choices=("text", "json"), default="text")
    return parser


def _history(args: argparse.Namespace) -> HistoryStore:
    root = args.history_uri or os.environ.get(HISTORY_ENV)
    if not root:
        raise PromoteError(f"no history location: give --history-uri or set {HISTORY_ENV} (s3://bucket/prefix)")
    return HistoryStore(root)


def _gate(args: argparse.Namespace, uri: str | None) -> int:
    from runtime.promote.gate import run_gate

    config = load_config(args.gates)
    report = run_gate(
        uri=uri,
        history=_history(args),
        name=args.model,
        version=args.version,
        config=config,
        set_alias=not args.no_alias,
    )
    payload = json.dumps(report.as_dict(), indent=2, default=str)
    if args.out:
        args.out.write_text(payload + "\n")
    else:
        print(payload)
    if args.markdown:
        args.markdown.write_text(report.markdown())
    verdict = "passed" if report.passed else "FAILED: " + ", ".join(check.name for check in report.failed)
    print(f"gate {args.model} v{args.version}: {verdict} ({report.seconds:.1f}s)", file=sys.stderr)
    return 0 if report.passed else 1


def _rollout(args: argparse.Namespace, uri: str | None) -> int:
    from runtime.promote.prometheus import Prometheus
    from runtime.promote.rollout import Controller, Region

    names = [name.strip() for name in args.region.split(",") if name.strip()]
    if len(args.prometheus) not in (1, len(names)):
        raise PromoteError(f"give one --prometheus, or one per region ({len(names)}), not {len(args.prometheus)}")
    urls = args.prometheus * len(names) if len(args.prometheus) == 1 else args.prometheus
    regions = [Region(name, Prometheus(url, args.selector)) for name, url in zip(names, urls, strict=True)]
    policy = load_config(args.gates).rollout
    controller = Controller(
        registry.client(uri),
        _history(args),
        args.model,
        policy.gates(),
        approval_required=policy.approval,
        say=lambda line: print(line, file=sys.stderr),
    )
    deadline = time.time() + args.timeout if args.timeout else None
    return int(controller.run(regions, once=args.once, poll_seconds=policy.poll_seconds, deadline=deadline))


def _approve(args: argparse.Namespace, uri: str | None) -> int:
    mlflow = registry.client(uri)
    registry.version_of(mlflow, args.model, args.version)
    at = datetime.now(UTC).isoformat(timespec="seconds")
    for tag, value in ((registry.APPROVED_BY_TAG, args.by), (registry.APPROVED_AT_TAG, at),
                       (registry.APPROVED_REASON_TAG, registry.clip(args.reason))):  # fmt: skip
        mlflow.set_model_version_tag(args.model, args.version, tag, value)
    _history(args).append(args.model, "approval", version=args.version, why=args.reason, by=args.by)
    print(f"approved {args.model} v{args.version} by {args.by}", file=sys.stderr)
    return 0


def _print_history(args: argparse.Namespace) -> int:
    events = _history(args).events(args.model)
    if args.format == "json":
        print(json.dumps(events, indent=2))
        return 0
    for event in events:
        print(format_event(event))
    return 0


def format_event(event: dict[str, Any]) -> str:
    known = {"schema", "at", "model", "version", "event", "by", "why"}
    figures = {key: value for key, value in event.items() if key not in known}
    extra = f"  {json.dumps(figures, default=str, separators=(',', ':'))}" if figures else ""
    return (
        f"{event['at']}  {event['event']:<9} v{event.get('version') or '-':<4} by {event['by']}: {event['why']}{extra}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mlplat-promote` console script."""
    args = _parser().parse_args(argv)
    uri = registry.tracking_uri(args.tracking_uri)
    try:
        if args.command == "gate":
            return _gate(args, uri)
        if args.command == "rollout":
            return _rollout(args, uri)
        if args.command == "approve":
            return _approve(args, uri)
        return _print_history(args)
    except (PromoteError, HistoryError) as error:
        print(f"mlplat-promote: error: {error}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
