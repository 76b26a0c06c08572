"""The scheduled drift job: read the window of prediction logs, compare with the champion's reference
profile, write the reports next to the logs, publish metrics, and act (webhook; rollback or retrain).

Exit codes: 0 ran (whatever the drift), 1 an action failed (the report and metrics are still written),
2 bad settings or input.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from runtime import prediction_log
from runtime.drift import actions, engine, metrics, registry, sources, storage
from runtime.drift.compare import CompareOptions, quoted
from runtime.drift.engine import Engine, StreamOptions
from runtime.drift.errors import DriftActionError
from runtime.drift.profile import ReferenceProfile, load_profile
from runtime.drift.runner import check_categorical, reaches, write_reports
from runtime.drift.settings import Action, JobSettings, MetricsMode, RetrainTarget
from runtime.drift.streaming import Totals, report_from_totals
from runtime.drift.window import Window, WindowRows, window_ending, window_files


@dataclass
class JobOutcome:
    """What one run found and did."""

    model: str
    version: str
    window: Window
    status: str = "no_data"
    n_rows: int = 0
    report_uri: str | None = None
    engine: str = "local"
    actions: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0

    def summary(self) -> str:
        done = "; ".join(self.actions) or "no action"
        failed = f"; FAILED: {'; '.join(self.failures)}" if self.failures else ""
        return (
            f"drift {self.status} for {self.model} v{self.version} window {self.window.id} "
            f"({self.n_rows} rows, {self.engine} engine): {done}{failed}; report {self.report_uri or '-'}"
        )


def _evaluated_version(mlflow: Any, settings: JobSettings, window: Window) -> registry.Champion:
    """The champion, unless this window already caused a rollback: then the version rolled back from,
    so a re-run of the same window judges the same rows and finds the rollback already done."""
    if registry.window_marker(mlflow, settings.model_name, registry.ROLLBACK_WINDOW_TAG) == window.id:
        rolled_back = registry.window_marker(mlflow, settings.model_name, f"{registry.ROLLBACK_WINDOW_TAG}.from")
        if rolled_back:
            version = mlflow.get_model_version(settings.model_name, rolled_back)
            return registry.Champion(str(version.version), version.run_id)
    return registry.champion(mlflow, settings.model_name, settings.champion_alias)


def _profile(mlflow: Any, settings: JobSettings, run_id: str | None) -> ReferenceProfile:
    if settings.drift_reference_profile:
        return load_profile(storage.read_bytes(settings.drift_reference_profile))
    return load_profile(registry.reference_profile_bytes(mlflow, run_id, settings.drift_reference_artifact))


def _options(settings: JobSettings, profile: ReferenceProfile) -> tuple[ReferenceProfile, CompareOptions]:
    check_categorical(profile, settings.categorical(), "MLPLAT_DRIFT_CATEGORICAL")
    exclude = {*prediction_log.META_COLUMNS, prediction_log.CALLER_COLUMN}
    prediction = prediction_log.PREDICTION_COLUMN
    if profile.prediction_column is None and prediction in profile.features:
        profile = ReferenceProfile(profile.features, profile.n_rows, prediction, profile.source)
    if prediction not in profile.features:
        exclude.add(prediction)
    options = CompareOptions(
        thresholds=settings.thresholds(), exclude=frozenset(exclude), workers=settings.drift_workers
    )
    return profile, options


def _act(mlflow: Any, settings: JobSettings, outcome: JobOutcome, report: dict[str, Any]) -> None:
    dataset = report["dataset"]
    if dataset["status"] != "alert" or settings.drift_action is Action.NONE:
        return
    if not dataset["reliable"]:
        why = dataset.get("unreliable_reason") or "statistics unreliable at this sample size"
        outcome.actions.append(f"{settings.drift_action} skipped: {why}")
        return
    prediction = report["prediction"]["status"] if report.get("prediction") else "not checked"
    reason = (
        f"drift alert in window {outcome.window.id}: {dataset['n_alert']} of {dataset['n_features']} "
        f"features at alert (share {dataset['drift_share']:.2f}), prediction {prediction}"
    )
    report_uri = outcome.report_uri or ""
    if mlflow is None:
        raise DriftActionError(f"MLPLAT_DRIFT_ACTION={settings.drift_action} needs MLPLAT_TRACKING_URI")
    if settings.drift_action is Action.ROLLBACK:
        done = registry.rollback(
            mlflow,
            settings.model_name,
            settings.champion_alias,
            bad_version=outcome.version,
            window_id=outcome.window.id,
            reason=reason,
            report_uri=report_uri,
        )
        outcome.actions.append(
            f"rolled back {settings.champion_alias} v{done.from_version} -> v{done.to_version}"
            if done.done
            else f"no rollback: {done.reason}"
        )
        return
    if registry.window_marker(mlflow, settings.model_name, registry.RETRAIN_WINDOW_TAG) == outcome.window.id:
        outcome.actions.append(f"retrain already requested for window {outcome.window.id}")
        return
    event = actions.retrain_event(settings.model_name, outcome.version, outcome.window.id, report, report_uri)
    if settings.drift_retrain_target is RetrainTarget.EVENTBRIDGE:
        event_id = actions.put_event(settings.drift_event_bus, event)
        outcome.actions.append(f"retrain event {event_id} on bus {settings.drift_event_bus}")
    else:
        assert settings.drift_retrain_webhook_url is not None
        actions.post_json(settings.drift_retrain_webhook_url, {"event": actions.EVENT_DETAIL_TYPE, "detail": event})
        outcome.actions.append("retrain webhook sent")
    registry.set_window_marker(mlflow, settings.model_name, registry.RETRAIN_WINDOW_TAG, outcome.window.id)


def _notify(settings: JobSettings, outcome: JobOutcome, report: dict[str, Any]) -> None:
    if not settings.drift_webhook_url or not reaches(report["dataset"]["status"], "warn"):
        return
    message = actions.slack_message(
        model=settings.model_name,
        version=outcome.version,
        window_id=outcome.window.id,
        report=report,
        report_uri=outcome.report_uri or "",
        action="; ".join(outcome.actions) or "none",
    )
    actions.post_json(settings.drift_webhook_url, message)
    outcome.actions.append("webhook notified")


def _publish(settings: JobSettings, outcome: JobOutcome, report: dict[str, Any] | None, seconds: float) -> None:
    if settings.drift_metrics is MetricsMode.NONE:
        return
    action = next((item.split(" ")[0] for item in outcome.actions if not item.startswith("webhook")), "none")
    gauges = metrics.build_registry(
        model=settings.model_name,
        version=outcome.version,
        report=report,
        n_rows=outcome.n_rows,
        duration_seconds=seconds,
        action=action,
    )
    if settings.drift_metrics is MetricsMode.PUSHGATEWAY:
        assert settings.drift_pushgateway_url is not None
        metrics.push(gauges, settings.drift_pushgateway_url, settings.model_name)
    elif settings.drift_metrics is MetricsMode.TEXTFILE:
        metrics.write_textfile(gauges, settings.drift_metrics_textfile)
    else:
        metrics.serve(
            gauges,
            settings.drift_metrics_host,
            settings.drift_metrics_port,
            settings.drift_metrics_linger_seconds,
        )


def _attempt(outcome: JobOutcome, step: str, call: Any, *args: Any) -> None:
    try:
        call(*args)
    except DriftActionError as error:
        outcome.failures.append(f"{step}: {error}")
    except Exception as error:  # an action's own library failing must not lose the report or the metrics
        outcome.failures.append(f"{step}: {type(error).__name__}: {error}")


def guard_callers(report: dict[str, Any], callers: dict[str | None, int] | None, max_share: float) -> None:
    """Mark the report unreliable when one caller sent more than `max_share` of the window's rows: such a
    window describes that caller, not the traffic, and must not roll back or retrain a model. Rows without a
    caller (logs written before the column existed) count in the total but as no one's."""
    dataset = report["dataset"]
    if not callers:
        dataset["top_caller_share"] = None
        return
    total = sum(callers.values())
    identified = {caller: count for caller, count in callers.items() if caller is not None}
    top, rows = max(identified.items(), key=lambda item: item[1], default=(None, 0))
    share = rows / total if total else 0.0
    dataset["top_caller_share"] = share
    if share > max_share:
        reason = (
            f"window dominated by one caller: {rows} of {total} rows ({share:.0%}) from {quoted(top)}, "
            f"more than MLPLAT_DRIFT_MAX_CALLER_SHARE={max_share:g}"
        )
        dataset["reliable"] = False
        dataset["unreliable_reason"] = reason
        dataset["problems"].append(reason)


def _count_window(
    settings: JobSettings,
    window: Window,
    version: str | None,
    profile: ReferenceProfile,
    options: CompareOptions,
    outcome: JobOutcome,
) -> Totals | None:
    """Stream the window's rows of `version` through the counting: here, or on Ray when the files' Parquet
    metadata says the window holds more than MLPLAT_DRIFT_RAY_MIN_ROWS rows and a Ray address is set."""
    files = window_files(settings.prediction_log_uri, settings.model_name, window)
    if not files:
        return None
    layout = sources.layout_of(files, any_columns=True)
    use_ray = (
        settings.drift_ray_address is not None
        and layout.n_rows is not None
        and layout.n_rows > settings.drift_ray_min_rows
    )
    stream = StreamOptions(
        engine=Engine.RAY if use_ray else Engine.LOCAL,
        batch_rows=settings.drift_batch_rows,
        ray_address=settings.drift_ray_address,
        row_filter=WindowRows(window, version),
        counted=frozenset({prediction_log.CALLER_COLUMN}),
        optional=layout.optional,
    )
    outcome.engine = str(stream.engine)
    return engine.count(profile, layout, options, stream)


def run_job(settings: JobSettings, now: datetime | None = None) -> JobOutcome:
    """One run over the window ending now (or at MLPLAT_DRIFT_WINDOW_END)."""
    started = time.monotonic()
    window = window_ending(settings.drift_window_end, settings.drift_window_minutes, now or datetime.now(UTC))
    mlflow = registry.client(settings.tracking_uri) if settings.tracking_uri else None
    evaluated = (
        _evaluated_version(mlflow, settings, window) if mlflow is not None else registry.Champion("unknown", None)
    )
    outcome = JobOutcome(settings.model_name, evaluated.version, window)
    profile, options = _options(settings, _profile(mlflow, settings, evaluated.run_id))
    version = evaluated.version if mlflow is not None else None
    totals = _count_window(settings, window, version, profile, options, outcome)
    outcome.n_rows = totals.partial.n_rows if totals is not None else 0
    report: dict[str, Any] | None = None
    if totals is None or outcome.n_rows < settings.drift_min_rows:
        outcome.actions.append(f"not compared: {outcome.n_rows} rows < MLPLAT_DRIFT_MIN_ROWS={settings.drift_min_rows}")
    else:
        report = report_from_totals(profile, totals, options)
        guard_callers(report, totals.partial.counted.get(prediction_log.CALLER_COLUMN), settings.drift_max_caller_share)
        report["model"] = {
            "name": settings.model_name,
            "version": evaluated.version,
            "alias": settings.champion_alias,
        }
        report["window"] = {"start": window.start.isoformat(), "end": window.end.isoformat(), "id": window.id}
        folder = storage.join(settings.report_root(), f"window={window.id}")
        outcome.report_uri = storage.join(folder, "report.json")
        write_reports(
            report,
            outcome.report_uri,
            storage.join(folder, "report.html"),
            f"Drift: {settings.model_name} v{evaluated.version} {window.id}",
        )
        outcome.status = report["dataset"]["status"]
        _attempt(outcome, settings.drift_action.value, _act, mlflow, settings, outcome, report)
        _attempt(outcome, "webhook", _notify, settings, outcome, report)
    _attempt(outcome, "metrics", _publish, settings, outcome, report, time.monotonic() - started)
    for failure in outcome.failures:
        print(f"mlplat-drift: {failure}", file=sys.stderr)
    return outcome
