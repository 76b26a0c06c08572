"""`training.yaml` (DESIGN §11) as one pydantic model, loaded once; a bad file names the file and the field."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from runtime.residency import ResidencyMap
from runtime.training.errors import TrainingConfigError

DEFAULT_RESIDENCY_FILE = Path("stacks/platform.yaml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class DataConfig(_Strict):
    """Where the offline features and the labels are, and which columns mean what."""

    features: str = Field(description="Parquet file, directory or s3://<offline bucket>/tables/<table>/ prefix.")
    labels: str = Field(description="Parquet file, directory or s3:// prefix of the labels, same layout.")
    entity: str = Field(description="Entity key column in both tables.")
    tenant: str = Field(default="tenant", description="Tenant column in both tables.")
    timestamp: str = Field(description="Event-time column of the features.")
    label_timestamp: str = Field(description="Time column of the labels (the as-of point).")
    label: str = Field(description="Label column.")
    window_days: int | None = Field(default=None, ge=1, le=3650, description="Labels of the last N days.")
    start: datetime | None = Field(default=None, description="Window start (inclusive); UTC if naive.")
    end: datetime | None = Field(default=None, description="Window end (exclusive); UTC if naive; default now.")

    @field_validator("start", "end", mode="before")
    @classmethod
    def _dates(cls, value: object) -> object:
        if isinstance(value, date) and not isinstance(value, datetime):
            return datetime(value.year, value.month, value.day, tzinfo=UTC)
        return value

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

    @model_validator(mode="after")
    def _window(self) -> DataConfig:
        if self.window_days is None and self.start is None:
            raise ValueError("give data.window_days or data.start")
        if self.window_days is not None and self.start is not None:
            raise ValueError("give data.window_days or data.start, not both")
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError("data.start must be before data.end")
        return self


class ValidationConfig(_Strict):
    """The data-validation gate's rules (DESIGN §11); every rule is checked on the training set."""

    min_rows: int = Field(default=1000, ge=1, description="Fewer rows fail `min_rows`.")
    max_null_share: float = Field(default=0.05, ge=0, le=1, description="Per column: share of nulls allowed.")
    max_age_days: float = Field(default=7, gt=0, description="The newest feature event must be at most this old.")
    ranges: dict[str, tuple[float, float]] = Field(default_factory=dict, description="column -> [min, max].")
    allowed: dict[str, list[Any]] = Field(default_factory=dict, description="column -> allowed values.")
    min_label_share: float = Field(
        default=0.01, ge=0, lt=0.5, description="Classifier: the rarest class's share must reach this."
    )


class EstimatorKind(StrEnum):
    LIGHTGBM = "lightgbm"
    TORCH = "torch"


class Task(StrEnum):
    CLASSIFIER = "classifier"
    REGRESSOR = "regressor"


class EstimatorConfig(_Strict):
    """What trains the model on Ray Train, on how many workers, and how often it checkpoints."""

    kind: EstimatorKind = EstimatorKind.LIGHTGBM
    params: dict[str, Any] = Field(default_factory=dict, description="Estimator parameters (LightGBM's names).")
    rounds: int = Field(default=100, ge=1, le=100_000, description="Boosting rounds (LightGBM) or epochs (torch).")
    workers: int = Field(default=2, ge=1, le=512)
    cpus_per_worker: float = Field(default=1, gt=0)
    gpus_per_worker: float = Field(default=0, ge=0)
    checkpoint_every: int = Field(default=10, ge=1, description="Checkpoint every K rounds/epochs.")
    max_failures: int = Field(default=3, ge=-1, description="Worker failures survived (resume from checkpoint).")


class HoldoutConfig(_Strict):
    share: float = Field(default=0.2, gt=0, lt=1, description="The latest share of label timestamps held out.")


class TrainingConfig(_Strict):
    """A training run: which model, where its data may be read, how it is validated, trained and evaluated."""

    model: str = Field(description="Registered model name.")
    region: str = Field(description="Region whose offline store the run reads.")
    tenants: list[str] = Field(min_length=1, description="Tenants whose data the run reads.")
    data: DataConfig
    features: list[str] = Field(min_length=1)
    categorical: list[str] = Field(default_factory=list, description="Features that are integer category codes.")
    task: Task = Task.CLASSIFIER
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    estimator: EstimatorConfig = Field(default_factory=EstimatorConfig)
    holdout: HoldoutConfig = Field(default_factory=HoldoutConfig)
    slices: list[str] = Field(default_factory=lambda: ["tenant"], description="Columns metrics are sliced by.")
    schedule: str | None = Field(default=None, description="EventBridge schedule expression of periodic retrains.")
    storage: str | None = Field(
        default=None,
        description="Checkpoints: s3://<training bucket>/<prefix> or a local directory (MLPLAT_TRAINING_STORAGE).",
    )
    experiment: str | None = Field(default=None, description="MLflow experiment; default: the model name.")
    residency_file: str | None = Field(
        default=None, description="platform.yaml with jurisdictions and tenants (MLPLAT_RESIDENCY_FILE)."
    )

    @model_validator(mode="after")
    def _columns(self) -> TrainingConfig:
        unknown = sorted(set(self.categorical) - set(self.features))
        if unknown:
            raise ValueError(f"categorical names columns that are not features: {unknown}")
        reserved = {self.data.entity, self.data.tenant, self.data.timestamp, self.data.label_timestamp, self.data.label}
        clash = sorted(reserved & set(self.features))
        if clash:
            raise ValueError(f"features may not include key, time or label columns: {clash}")
        ruled = sorted((set(self.validation.ranges) | set(self.validation.allowed)) - set(self.features))
        if ruled:
            raise ValueError(f"validation.ranges/allowed name columns that are not features: {ruled}")
        allowed_slices = {*self.features, self.data.tenant, "tenant"}
        bad = sorted(set(self.slices) - allowed_slices)
        if bad:
            raise ValueError(f"slices must be the tenant column or features: {bad}")
        return self

    @property
    def experiment_name(self) -> str:
        return self.experiment or self.model

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        """[start, end) of label timestamps."""
        end = self.data.end or now
        start = self.data.start or end - timedelta(days=self.data.window_days or 0)
        return start, end

    def slice_columns(self) -> list[str]:
        return ["tenant" if name == self.data.tenant else name for name in self.slices]

    def storage_path(self) -> str:
        return self.storage or os.environ.get("MLPLAT_TRAINING_STORAGE") or str(Path("build/training").resolve())

    def load_residency(self) -> ResidencyMap:
        raw = self.residency_file or os.environ.get("MLPLAT_RESIDENCY_FILE")
        path = Path(raw) if raw else DEFAULT_RESIDENCY_FILE
        try:
            text = path.read_text()
        except OSError as error:
            raise TrainingConfigError(
                f"residency file {path}: {error.strerror or error} (set residency_file or MLPLAT_RESIDENCY_FILE)"
            ) from None
        try:
            data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
            return ResidencyMap.from_dict(data)
        except (ValueError, KeyError, TypeError, yaml.YAMLError) as error:
            raise TrainingConfigError(f"residency file {path}: {error}") from None


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def parse_config(data: object, source: str) -> TrainingConfig:
    if not isinstance(data, dict):
        raise TrainingConfigError(f"{source}: expected a mapping at the top level")
    try:
        return TrainingConfig.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(f"{_field(item['loc'])}: {item['msg']}" for item in error.errors())
        raise TrainingConfigError(f"{source}: {problems}") from None


def load_config(path: Path, overrides: dict[str, Any] | None = None) -> TrainingConfig:
    """The config at `path`, with `overrides` (dotted keys such as `data.start`) applied before validation."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as error:
        raise TrainingConfigError(f"{path}: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise TrainingConfigError(f"{path}: not valid YAML: {error}") from None
    for dotted, value in (overrides or {}).items():
        target = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            target = target.setdefault(key, {}) if isinstance(target, dict) else target
        if isinstance(target, dict):
            target[leaf] = value
    return parse_config(data, str(path))
