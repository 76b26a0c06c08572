"""`mlplat-drift`: `run` compares two samples, `profile` saves a reference profile, `job` is the CronJob.

Exit codes: 0 done (drift below --fail-on), 1 drift at or above --fail-on (or the job's action failed),
2 any error: bad input or usage, unwritable output, a crash (the message says what and where).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from runtime.drift import storage
from runtime.drift.allocator import keep_freed_memory
from runtime.drift.compare import CompareOptions
from runtime.drift.engine import Engine, StreamOptions
from runtime.drift.errors import DriftActionError, DriftError, DriftInputError
from runtime.drift.profile import (
    DEFAULT_PROFILE_ARTIFACT,
    ReferenceProfile,
    build_profile,
    profile_bytes,
    save_profile,
)
from runtime.drift.profile_stream import streamed_profile
from runtime.drift.runner import ReferenceSource, analyse, reaches, report_json, write_reports
from runtime.drift.sources import DEFAULT_BATCH_ROWS
from runtime.drift.statistics import warm_up
from runtime.drift.tables import read_table
from runtime.drift.thresholds import Thresholds

EXIT_OK, EXIT_DRIFT, EXIT_INPUT = 0, 1, 2


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _names(text: str | None) -> frozenset[str]:
    return frozenset(name.strip() for name in (text or "").split(",") if name.strip())


def _workers(value: int | None) -> int:
    return value or min(8, os.cpu_count() or 1)


def _add_reference_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--categorical", help="comma-separated columns compared as categories")
    parser.add_argument("--prediction-column", help="the column reported as the prediction")
    parser.add_argument("--workers", type=int, help="threads (default: CPU cores, at most 8)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlplat-drift", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="compare a current sample with a reference sample or profile")
    source = run.add_mutually_exclusive_group(required=True)
    source.add_argument("--reference", help="reference sample: .parquet/.csv file or directory, local or s3://")
    source.add_argument("--reference-profile", help="a profile saved by `mlplat-drift profile`")
    run.add_argument("--current", required=True, help="current sample: .parquet/.csv file or directory")
    _add_reference_args(run)
    run.add_argument("--exclude", help="comma-separated columns to leave out (e.g. ids, timestamps)")
    run.add_argument("--out", help="write the JSON report here (default: stdout)")
    run.add_argument("--html", help="write the HTML report here")
    run.add_argument("--fail-on", choices=("warn", "alert"), help="exit 1 when the dataset reaches this status")
    run.add_argument("--psi-warn", type=float, default=Thresholds.psi_warn)
    run.add_argument("--psi-alert", type=float, default=Thresholds.psi_alert)
    run.add_argument("--drift-share", type=float, default=Thresholds.drift_share_alert)
    run.add_argument("--min-values", type=int, default=30, help="fewer values on a side: statistics unreliable")
    run.add_argument(
        "--engine",
        choices=[str(engine) for engine in Engine],
        default=str(Engine.LOCAL),
        help="local: stream the current sample here in record batches (default); ray: as Ray Data tasks; "
        "memory: read it whole",
    )
    run.add_argument("--batch-rows", type=_positive, default=DEFAULT_BATCH_ROWS, help="rows per record batch")
    run.add_argument("--ray-address", help="Ray cluster to use with --engine ray (default: start a local Ray)")

    profile = commands.add_parser("profile", help="save a reference profile (at training time)")
    profile.add_argument("--reference", required=True, help="reference sample: .parquet/.csv, local or s3://")
    profile.add_argument("--out", help="profile file to write (.npz), local or s3://")
    profile.add_argument("--mlflow-run", help="also log it to this MLflow run (MLFLOW_TRACKING_URI) as --artifact-path")
    profile.add_argument("--artifact-path", default=DEFAULT_PROFILE_ARTIFACT, help="the artifact's path in the run")
    profile.add_argument("--exclude", help="comma-separated columns to leave out")
    profile.add_argument(
        "--max-ks-values",
        type=int,
        help="keep at most this many sorted values per feature (KS then approximate)",
    )
    _add_reference_args(profile)
    profile.add_argument(
        "--engine",
        choices=("local", "memory"),
        default="local",
        help="local: stream the sample (memory: one batch plus one column's values; default); memory: read it whole",
    )
    profile.add_argument("--batch-rows", type=_positive, default=DEFAULT_BATCH_ROWS, help="rows per record batch")

    commands.add_parser("job", help="the scheduled job: settings from MLPLAT_* environment variables")
    return parser


def _run(args: argparse.Namespace) -> int:
    thresholds = Thresholds(psi_warn=args.psi_warn, psi_alert=args.psi_alert, drift_share_alert=args.drift_share)
    options = CompareOptions(
        thresholds=thresholds,
        min_reliable_values=args.min_values,
        exclude=_names(args.exclude),
        workers=_workers(args.workers),
    )
    reference = ReferenceSource(
        sample=args.reference,
        profile=args.reference_profile,
        categorical=_names(args.categorical),
        prediction_column=args.prediction_column,
    )
    stream = StreamOptions(engine=Engine(args.engine), batch_rows=args.batch_rows, ray_address=args.ray_address)
    report = analyse(reference, args.current, options, stream)
    write_reports(report, args.out, args.html, f"Drift report: {args.current}")
    if not args.out:
        sys.stdout.buffer.write(report_json(report) + b"\n")
    dataset = report["dataset"]
    print(
        f"dataset {dataset['status']}: {dataset['n_alert']} alert, {dataset['n_warn']} warn, "
        f"{dataset['n_unavailable']} unavailable of {dataset['n_features']} features "
        f"(drift share {dataset['drift_share']:.2f})",
        file=sys.stderr,
    )
    for problem in dataset["problems"]:
        print(f"note: {problem}", file=sys.stderr)
    return EXIT_DRIFT if args.fail_on and reaches(dataset["status"], args.fail_on) else EXIT_OK


def _profile(args: argparse.Namespace) -> int:
    if args.max_ks_values is not None and args.max_ks_values < 2:
        raise DriftInputError("--max-ks-values must be at least 2")
    if not args.out and not args.mlflow_run:
        raise DriftInputError("give --out, --mlflow-run or both")
    with _reference_profile(args) as profile:
        return _save(args, profile)


@contextlib.contextmanager
def _reference_profile(args: argparse.Namespace) -> Iterator[ReferenceProfile]:
    """The profile, streamed (bounded memory, the default) or from the whole sample in memory."""
    options = {
        "categorical": _names(args.categorical),
        "prediction_column": args.prediction_column,
        "exclude": _names(args.exclude),
        "max_ks_values": args.max_ks_values,
    }
    if args.engine == "memory":
        yield build_profile(
            read_table(args.reference), **options, source=args.reference, workers=_workers(args.workers)
        )
        return
    with streamed_profile(args.reference, **options, batch_rows=args.batch_rows) as profile:
        yield profile


def _save(args: argparse.Namespace, profile: ReferenceProfile) -> int:
    if args.out and storage.is_s3(args.out):
        storage.write_bytes(args.out, profile_bytes(profile))
    elif args.out:
        save_profile(profile, Path(args.out))
    if args.mlflow_run:
        from runtime.drift import registry

        mlflow = registry.client(os.environ.get("MLFLOW_TRACKING_URI"))
        registry.log_reference_profile(mlflow, args.mlflow_run, profile_bytes(profile), args.artifact_path)
    where = ", ".join(filter(None, [args.out, args.mlflow_run and f"run {args.mlflow_run}: {args.artifact_path}"]))
    print(f"profile of {len(profile.features)} features, {profile.n_rows} rows: {where}", file=sys.stderr)
    return EXIT_OK


def _job() -> int:
    from runtime.drift.job import run_job
    from runtime.drift.settings import load_job_settings

    outcome = run_job(load_job_settings())
    print(outcome.summary(), file=sys.stderr)
    return outcome.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mlplat-drift` console script."""
    args = _parser().parse_args(argv)
    keep_freed_memory()
    warm_up()
    commands = {"run": lambda: _run(args), "profile": lambda: _profile(args), "job": _job}
    try:
        return commands[args.command]()
    except DriftInputError as error:
        print(f"mlplat-drift: error: {error}", file=sys.stderr)
        return EXIT_INPUT
    except DriftActionError as error:
        print(f"mlplat-drift: action failed: {error}", file=sys.stderr)
        return EXIT_DRIFT
    except (DriftError, ValueError, OSError) as error:
        print(f"mlplat-drift: error: {error}", file=sys.stderr)
        return EXIT_INPUT
    except Exception as error:  # exit 1 means drift: anything unforeseen must not read as drift
        print(f"mlplat-drift: error: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_INPUT


if __name__ == "__main__":
    raise SystemExit(main())
