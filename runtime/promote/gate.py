"""`mlplat-promote gate`: the candidate and the champion scored on the training run's holdout, every gate of
`gates.yaml` applied, the verdict written to the registry (tags, alias) and the history, and reported."""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from runtime.drift.profile import DEFAULT_PROFILE_ARTIFACT
from runtime.promote import checks, registry
from runtime.promote.checks import Check
from runtime.promote.config import PromotionConfig
from runtime.promote.errors import PromoteError
from runtime.promote.scoring import Scored, download_run_artifact, load_version
from runtime.promotion_history import HistoryStore

REPORT_SCHEMA = "mlplat.gate/v1"
HOLDOUT_ARTIFACT = "holdout/holdout.parquet"
VALIDATION_ARTIFACT = "validation/report.json"
LABEL_PARAM, FEATURES_PARAM, SLICES_PARAM = "mlplat.label", "mlplat.features", "mlplat.slices"


@dataclass
class GateReport:
    model: str
    version: str
    champion: str | None
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    slices: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": REPORT_SCHEMA,
            "model": {"name": self.model, "version": self.version},
            "champion": {"version": self.champion} if self.champion else None,
            "passed": self.passed,
            "checks": [check.as_dict() for check in self.checks],
            "failed": [check.name for check in self.failed],
            "metrics": self.metrics,
            "slices": self.slices,
            "notes": self.notes,
            "seconds": round(self.seconds, 3),
        }

    def markdown(self) -> str:
        verdict = "passed" if self.passed else f"FAILED ({len(self.failed)} of {len(self.checks)} checks)"
        against = f"champion v{self.champion}" if self.champion else "no champion (absolute gates only)"
        lines = [
            f"### Model gate: {self.model} v{self.version} {verdict}",
            "",
            f"Against {against}.",
            "",
            "| | check | observed | limit | detail |",
            "|---|---|---|---|---|",
        ]
        for check in self.checks:
            mark = "✅" if check.passed else "❌"
            lines.append(f"| {mark} | `{check.name}` | {check.observed} | {check.limit} | {check.detail} |")
        lines += ["", *[f"- {note}" for note in self.notes]]
        return "\n".join(lines).rstrip() + "\n"


def _list_param(value: str | None) -> list[str]:
    if not value:
        return []
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(item) for item in parsed] if isinstance(parsed, list) else [str(parsed)]


def _artifact_checks(uri: str | None, mlflow: Any, run_id: str) -> tuple[list[checks.Check], pd.DataFrame | None]:
    found: list[checks.Check] = []
    report_path = download_run_artifact(uri, run_id, VALIDATION_ARTIFACT)
    if report_path is None:
        found.append(checks.Check("validation", False, None, True, f"run {run_id} has no {VALIDATION_ARTIFACT}"))
    else:
        try:
            passed = json.loads(report_path.read_text()).get("passed")
        except (ValueError, AttributeError) as error:
            raise PromoteError(f"run {run_id}: {VALIDATION_ARTIFACT} is not a JSON object: {error}") from None
        found.append(checks.Check("validation", passed is True, passed, True, "training data validation result"))
    folder, _, name = DEFAULT_PROFILE_ARTIFACT.rpartition("/")
    names = {Path(item.path).name for item in mlflow.list_artifacts(run_id, folder or None)}
    found.append(
        checks.Check(
            "drift_profile", name in names, name in names, True, f"reference profile {DEFAULT_PROFILE_ARTIFACT}"
        )
    )
    holdout_path = download_run_artifact(uri, run_id, HOLDOUT_ARTIFACT)
    if holdout_path is None:
        raise PromoteError(f"run {run_id} saved no holdout at {HOLDOUT_ARTIFACT}: nothing to score the gate on")
    try:
        holdout = pd.read_parquet(holdout_path)
    except Exception as error:
        raise PromoteError(f"run {run_id}: {HOLDOUT_ARTIFACT} is not readable Parquet: {error}") from None
    return found, holdout


def evaluate(
    mlflow: Any,
    uri: str | None,
    name: str,
    version: str,
    config: PromotionConfig,
    cache_dir: Path,
) -> GateReport:
    """Every gate for `version` (no registry writes)."""
    started = time.perf_counter()
    candidate_version = registry.version_of(mlflow, name, version)
    if not candidate_version.run_id:
        raise PromoteError(f"{name} version {version} has no training run: no holdout to gate on")
    run = mlflow.get_run(candidate_version.run_id)
    params = run.data.params
    label = params.get(LABEL_PARAM)
    if not label:
        raise PromoteError(f"run {run.info.run_id} has no `{LABEL_PARAM}` param naming the label column")
    champion_version = registry.alias_version(mlflow, name, registry.CHAMPION_ALIAS)
    if champion_version == str(version):
        champion_version = None
    report = GateReport(name, str(version), champion_version)
    found, holdout = _artifact_checks(uri, mlflow, run.info.run_id)
    report.checks += found
    assert holdout is not None
    if label not in holdout.columns:
        raise PromoteError(f"the holdout has no label column {label!r} (columns: {', '.join(holdout.columns)})")
    labels = holdout[label].to_numpy()
    features = _list_param(params.get(FEATURES_PARAM)) or [c for c in holdout.columns if c != label]

    candidate = load_version(name, str(version), uri, cache_dir)
    cand_scores = candidate.scores(_inputs(holdout, candidate.input_columns(features), "candidate"))
    report.metrics["candidate"] = checks.classification_metrics(labels, cand_scores, config.threshold)

    champion: Scored | None = None
    champ_scores: np.ndarray | None = None
    if champion_version is None:
        report.notes.append("no champion yet: only the absolute gates apply (no regression, slice or signature check)")
    else:
        champion = load_version(name, champion_version, uri, cache_dir)
        champ_scores = champion.scores(_inputs(holdout, champion.input_columns(features), "champion"))
        report.metrics["champion"] = checks.classification_metrics(labels, champ_scores, config.threshold)
    report.checks += checks.metric_checks(config, report.metrics["candidate"], report.metrics.get("champion"))

    _judge_slices(report, config, holdout, labels, cand_scores, champ_scores)
    frame = _inputs(holdout, candidate.input_columns(features), "candidate")
    latencies = candidate.single_row_latencies_ms(frame, config.latency.samples, config.latency.p99_ms_max)
    report.checks.append(
        checks.latency_check(latencies, config.latency.p99_ms_max, min(config.latency.samples, len(frame)))
    )
    report.checks.append(checks.size_check(candidate.size_bytes, config.size_mb_max))
    if config.signature == "compatible" and champion is not None:
        report.checks.append(
            checks.signature_check(candidate.inputs, champion.inputs, candidate.output_type, champion.output_type)
        )
    report.seconds = time.perf_counter() - started
    return report


def _judge_slices(
    report: GateReport,
    config: PromotionConfig,
    holdout: pd.DataFrame,
    labels: np.ndarray,
    cand_scores: np.ndarray,
    champ_scores: np.ndarray | None,
) -> None:
    slice_gate = config.slices
    if slice_gate is None:
        return
    if slice_gate.column not in holdout.columns:
        report.checks.append(
            checks.Check(
                f"slice.{slice_gate.column}",
                False,
                None,
                None,
                f"the holdout has no slice column {slice_gate.column!r}",
            )
        )
        return
    figures = checks.slice_figures(
        slice_gate, holdout[slice_gate.column].to_numpy(), labels, cand_scores, champ_scores, config.threshold
    )
    report.slices = {key: vars(value) for key, value in figures.items()}
    small = [key for key, value in figures.items() if value.rows < slice_gate.min_rows]
    if small:
        report.notes.append(f"slices under {slice_gate.min_rows} rows reported, not judged: {', '.join(small)}")
    report.checks += checks.slice_checks(slice_gate, figures, config.greater_is_better(slice_gate.metric))


def _inputs(holdout: pd.DataFrame, columns: list[str], who: str) -> pd.DataFrame:
    missing = [column for column in columns if column not in holdout.columns]
    if missing:
        raise PromoteError(f"the holdout lacks the {who}'s input column(s) {', '.join(missing)}")
    return holdout[columns]


def record(mlflow: Any, history: HistoryStore, report: GateReport, *, set_alias: bool) -> None:
    """The verdict in the registry (tags; alias `challenger` on a pass) and in the history."""
    name, version = report.model, report.version
    mlflow.set_model_version_tag(name, version, registry.GATE_TAG, "passed" if report.passed else "failed")
    failed = "; ".join(f"{check.name}: {check.detail}" for check in report.failed)
    mlflow.set_model_version_tag(name, version, registry.GATE_FAILED_TAG, registry.clip(failed))
    for metric, value in report.metrics["candidate"].items():
        if value is not None:
            mlflow.set_model_version_tag(name, version, registry.GATE_METRIC_TAG.format(metric=metric), f"{value:.6g}")
    figures: dict[str, Any] = {
        "passed": report.passed,
        "failed": [check.as_dict() for check in report.failed],
        "metrics": report.metrics,
        "champion": report.champion,
    }
    why = "all gates passed" if report.passed else f"{len(report.failed)} gate(s) failed: {failed}"
    history.append(name, "gate", version=version, why=why, **figures)
    if report.passed and set_alias:
        previous = registry.alias_version(mlflow, name, registry.CHALLENGER_ALIAS)
        mlflow.set_registered_model_alias(name, registry.CHALLENGER_ALIAS, version)
        history.append(
            name, "alias", version=version, why="gate passed", alias=registry.CHALLENGER_ALIAS, previous=previous
        )


def run_gate(
    *,
    uri: str | None,
    history: HistoryStore,
    name: str,
    version: str,
    config: PromotionConfig,
    set_alias: bool = True,
) -> GateReport:
    mlflow = registry.client(uri)
    with tempfile.TemporaryDirectory(prefix="mlplat-gate-") as cache:
        report = evaluate(mlflow, uri, name, version, config, Path(cache))
    record(mlflow, history, report, set_alias=set_alias)
    return report
