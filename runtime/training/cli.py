"""`mlplat-train`: `run` one training (DESIGN §11) or `dispatch` retrain events from a queue.

Exit codes: 0 a version was registered (or, for dispatch, the queue was drained); 1 refused by a gate
(data validation, residency) or training failed, nothing registered; 2 usage or config error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from runtime.training.errors import TrainingError

log = logging.getLogger("mlplat.training")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlplat-train", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="train, validate, evaluate and register one model version")
    run.add_argument("--config", required=True, type=Path, help="training.yaml")
    run.add_argument("--tracking-uri", default=None, help="MLflow URI (default: MLFLOW_TRACKING_URI)")
    run.add_argument("--ray-address", default=None, help="Ray cluster address (default: a local Ray)")
    run.add_argument("--out", type=Path, default=None, help="write the mlplat.training/v1 summary here")
    run.add_argument("--start", default=None, help="window start (ISO 8601), overrides data.window_days")
    run.add_argument("--end", default=None, help="window end (ISO 8601)")
    run.add_argument("--trigger", default="manual", help="what started the run (tagged on the version)")

    dispatch = commands.add_parser("dispatch", help="consume retrain events and start one run per (model, window)")
    dispatch.add_argument("--queue", required=True, help="SQS queue URL")
    dispatch.add_argument(
        "--configs", type=Path, default=Path("/etc/mlplat/training"), help="directory of <model>.yaml"
    )
    dispatch.add_argument(
        "--submit", choices=["rayjob", "local"], default="rayjob", help="RayJob via the Kubernetes API, or run here"
    )
    dispatch.add_argument("--ledger", default=None, help="claims of started windows: s3://bucket/prefix or a dir")
    dispatch.add_argument("--tracking-uri", default=None)
    dispatch.add_argument("--once", action="store_true", help="drain the queue once and exit (CronJob mode)")
    dispatch.add_argument("--wait-seconds", type=int, default=20, help="SQS long-poll wait")
    return parser


def _run(args: argparse.Namespace) -> int:
    from runtime.training import pipeline
    from runtime.training.config import load_config

    overrides = {}
    if args.start:
        overrides = {"data.start": args.start, "data.window_days": None}
    if args.end:
        overrides["data.end"] = args.end
    config = load_config(args.config, overrides)
    tracking_uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    outcome = pipeline.run(config, tracking_uri=tracking_uri, ray_address=args.ray_address, trigger=args.trigger)
    text = json.dumps(outcome.summary, indent=2, default=str)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return outcome.exit_code


def _dispatch(args: argparse.Namespace) -> int:
    from runtime.training import dispatch

    dispatcher = dispatch.Dispatcher.from_args(
        queue_url=args.queue,
        configs=args.configs,
        submit=args.submit,
        ledger=args.ledger,
        tracking_uri=args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI"),
        wait_seconds=args.wait_seconds,
    )
    results = dispatcher.drain() if args.once else dispatcher.serve_forever()
    for result in results:
        print(json.dumps(result.as_dict(), default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    try:
        return _run(args) if args.command == "run" else _dispatch(args)
    except TrainingError as error:
        print(f"mlplat-train: {error}", file=sys.stderr)
        return error.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
